//! The protected outbound client against a real gRPC server on loopback that answers as the
//! test tells it: retries, budget, bulkhead, deadline, circuit breaker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use mercato_kit::{
    client::{
        self, BreakerConfig, ClientMetrics, Downstream, DownstreamConfig, Idempotency, RetryConfig, breaker::State,
    },
    deadline,
    testing::eventually,
};
use tokio::time::Instant;
use tonic::{Code, Status, body::Body, server::NamedService};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// How the test server answers every call.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Serve,
    Fail(Code),
    /// After a while, UNAVAILABLE.
    SlowlyFail(Duration),
    /// Never (until the caller gives up).
    Hang,
}

/// A health service that answers as told and counts the calls it saw.
#[derive(Clone)]
struct Scripted {
    answer: Arc<Mutex<Answer>>,
    calls: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    health: tonic::service::Routes,
}

impl NamedService for Scripted {
    const NAME: &'static str = "grpc.health.v1.Health";
}

impl tower::Service<http::Request<Body>> for Scripted {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = *self.answer.lock().unwrap();
        let mut health = self.health.clone();
        let in_flight = self.in_flight.clone();
        Box::pin(async move {
            in_flight.fetch_add(1, Ordering::SeqCst);
            let _done = Decrement(in_flight);
            match answer {
                Answer::Serve => Ok(tower::Service::call(&mut health, request).await.unwrap_or_else(|e| match e {})),
                Answer::Fail(code) => Ok(Status::new(code, "as scripted").into_http()),
                Answer::SlowlyFail(after) => {
                    tokio::time::sleep(after).await;
                    Ok(Status::unavailable("slowly, as scripted").into_http())
                }
                Answer::Hang => std::future::pending().await,
            }
        })
    }
}

struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Server {
    url: String,
    script: Scripted,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(answer: Answer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (_reporter, health) = tonic_health::server::health_reporter();
        let script = Scripted {
            answer: Arc::new(Mutex::new(answer)),
            calls: Arc::default(),
            in_flight: Arc::default(),
            health: tonic::service::Routes::new(health),
        };
        let service = script.clone();
        let task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let _ = tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await;
        });
        Self { url, script, task }
    }

    fn answer(&self, answer: Answer) {
        *self.script.answer.lock().unwrap() = answer;
    }

    fn calls(&self) -> usize {
        self.script.calls.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A breaker that never opens, for the tests about retries.
fn never_opens() -> BreakerConfig {
    BreakerConfig { min_calls: u32::MAX, ..BreakerConfig::default() }
}

fn downstream(config: DownstreamConfig) -> (Downstream, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    (Downstream::new("scripted", config, ClientMetrics::register(&registry)), registry)
}

/// The sum of `name`'s series that have `label`, as /metrics shows them.
fn metric(registry: &prometheus::Registry, name: &str, label: (&str, &str)) -> f64 {
    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
    mercato_kit::testing::metric(&text, name, label)
}

/// One health check through `downstream`, each attempt given the time left.
async fn check(downstream: &Downstream, url: &str, idempotency: Idempotency, timeout: Duration) -> Result<(), Status> {
    let health = HealthClient::new(client::channel(url).unwrap());
    downstream
        .call(idempotency, timeout, |left| {
            let mut request = tonic::Request::new(HealthCheckRequest::default());
            request.set_timeout(left);
            let mut health = health.clone();
            async move { health.check(request).await.map(|_| ()) }
        })
        .await
}

#[tokio::test]
async fn invalid_argument_is_never_retried_and_unavailable_only_when_idempotent() {
    let server = Server::start(Answer::Fail(Code::InvalidArgument)).await;
    let config = DownstreamConfig { breaker: never_opens(), ..DownstreamConfig::default() };
    let (downstream, _) = downstream(config);
    let refused = check(&downstream, &server.url, Idempotency::Idempotent, Duration::from_secs(5)).await;
    assert_eq!(refused.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(server.calls(), 1, "a bad request is not retried");

    server.answer(Answer::Fail(Code::Unavailable));
    let failed = check(&downstream, &server.url, Idempotency::Idempotent, Duration::from_secs(5)).await;
    assert_eq!(failed.unwrap_err().code(), Code::Unavailable);
    assert_eq!(server.calls(), 1 + 3, "an idempotent call: three attempts in all");

    let failed = check(&downstream, &server.url, Idempotency::NotIdempotent, Duration::from_secs(5)).await;
    assert_eq!(failed.unwrap_err().code(), Code::Unavailable);
    assert_eq!(server.calls(), 1 + 3 + 1, "it reached the server once: not again");
}

#[tokio::test]
async fn a_call_that_never_reached_the_downstream_is_retried_even_when_not_idempotent() {
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let config = DownstreamConfig { breaker: never_opens(), ..DownstreamConfig::default() };
    let (downstream, registry) = downstream(config);
    let failed =
        check(&downstream, &format!("http://{dead}"), Idempotency::NotIdempotent, Duration::from_secs(5)).await;
    assert_eq!(failed.unwrap_err().code(), Code::Unavailable);
    assert_eq!(metric(&registry, "mercato_client_attempts_total", ("downstream", "scripted")), 3.0);
    assert_eq!(metric(&registry, "mercato_client_retries_total", ("downstream", "scripted")), 2.0);
}

#[tokio::test]
async fn the_retry_budget_caps_attempts_while_everything_fails() {
    let server = Server::start(Answer::Fail(Code::Unavailable)).await;
    let retry = RetryConfig {
        attempts: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
        budget_ratio: 0.1,
        budget_min_per_sec: 1,
    };
    let (downstream, registry) = downstream(DownstreamConfig { breaker: never_opens(), retry, ..Default::default() });
    for _ in 0..200 {
        let failed = check(&downstream, &server.url, Idempotency::Idempotent, Duration::from_secs(5)).await;
        assert_eq!(failed.unwrap_err().code(), Code::Unavailable);
    }
    // Unbudgeted: 600 attempts. Budgeted: 200 + 10 % of them + 1/s over the window (10).
    assert!(server.calls() <= 200 + 20 + 10 + 2, "{} attempts for 200 calls", server.calls());
    assert!(metric(&registry, "mercato_client_retries_denied_total", ("reason", "budget")) >= 150.0);
}

#[tokio::test]
async fn the_bulkhead_refuses_a_call_beyond_its_limit_at_once() {
    let server = Server::start(Answer::Hang).await;
    let config = DownstreamConfig { concurrency: 2, breaker: never_opens(), ..DownstreamConfig::default() };
    let (downstream, registry) = downstream(config);
    let hanging: Vec<_> = (0..2)
        .map(|_| {
            let (downstream, url) = (downstream.clone(), server.url.clone());
            tokio::spawn(
                async move { check(&downstream, &url, Idempotency::Idempotent, Duration::from_secs(30)).await },
            )
        })
        .collect();
    eventually(Duration::from_secs(5), "two calls at the server", || async {
        (server.script.in_flight.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    let refused = check(&downstream, &server.url, Idempotency::Idempotent, Duration::from_secs(30)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(server.calls(), 2, "the third never left");
    assert_eq!(metric(&registry, "mercato_client_rejected_total", ("reason", "bulkhead")), 1.0);
    for call in hanging {
        call.abort();
    }
}

#[tokio::test]
async fn a_deadline_shorter_than_the_retries_is_kept_and_an_inherited_one_too() {
    let server = Server::start(Answer::SlowlyFail(Duration::from_millis(100))).await;
    let retry = RetryConfig { attempts: 20, ..RetryConfig::default() };
    let (downstream, _) = downstream(DownstreamConfig { breaker: never_opens(), retry, ..Default::default() });
    // Twenty attempts of 100 ms would take over two seconds.
    let started = Instant::now();
    let failed = check(&downstream, &server.url, Idempotency::Idempotent, Duration::from_millis(350)).await;
    let took = started.elapsed();
    let status = failed.unwrap_err();
    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Unavailable), "{status:?}");
    assert!(took < Duration::from_millis(350 + 200), "{took:?}");
    assert!(server.calls() <= 4, "{} attempts", server.calls());

    // The caller's own deadline, inherited from the call being served, is sooner than ours.
    let started = Instant::now();
    let inherited = Some(started + Duration::from_millis(250));
    let failed =
        deadline::with(inherited, check(&downstream, &server.url, Idempotency::Idempotent, Duration::from_secs(30)))
            .await;
    let status = failed.unwrap_err();
    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Unavailable), "{status:?}");
    assert!(started.elapsed() < Duration::from_millis(250 + 200), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_half_opens_after_the_cool_down_and_closes_on_success() {
    let server = Server::start(Answer::Fail(Code::Unavailable)).await;
    let breaker = BreakerConfig {
        window: Duration::from_secs(10),
        min_calls: 10,
        failure_rate: 0.5,
        cool_down: Duration::from_millis(300),
        probes: 1,
    };
    let retry = RetryConfig { attempts: 1, ..RetryConfig::default() };
    let (downstream, registry) = downstream(DownstreamConfig { breaker, retry, ..DownstreamConfig::default() });
    for _ in 0..10 {
        let _ = check(&downstream, &server.url, Idempotency::Idempotent, Duration::from_secs(5)).await;
    }
    assert_eq!(downstream.circuit(), State::Open);
    assert_eq!(metric(&registry, "mercato_client_circuit_state", ("downstream", "scripted")), 2.0);
    let reached = server.calls();

    let mut took = Vec::new();
    for _ in 0..1000 {
        let started = Instant::now();
        let refused = check(&downstream, &server.url, Idempotency::Idempotent, Duration::from_secs(5)).await;
        took.push(started.elapsed());
        assert_eq!(refused.unwrap_err().code(), Code::Unavailable);
    }
    took.sort();
    assert_eq!(server.calls(), reached, "nothing reaches it while open");
    assert!(took[989] < Duration::from_millis(5), "p99 of a refusal: {:?}", took[989]);

    server.answer(Answer::Serve);
    eventually(Duration::from_secs(5), "a probe after the cool-down that closes it", || async {
        check(&downstream, &server.url, Idempotency::Idempotent, Duration::from_secs(5)).await.ok()
    })
    .await;
    assert_eq!(downstream.circuit(), State::Closed);
    assert_eq!(server.calls(), reached + 1, "one probe, which succeeded");
    assert_eq!(metric(&registry, "mercato_client_circuit_transitions_total", ("to", "half_open")), 1.0);
    assert_eq!(metric(&registry, "mercato_client_circuit_transitions_total", ("to", "closed")), 1.0);
}
