//! Load shedding: a server works on at most so many requests at once, and answers the next
//! at once with a refusal (gRPC RESOURCE_EXHAUSTED, REST 503 with Retry-After) instead of
//! queueing it behind the others. Beyond capacity a queue only adds latency to every request
//! and memory to the process; a refusal lets the caller (or its retry budget) decide.
//!
//! A request holds its place until its response starts: a unary call for all of its work,
//! a stream for its setup (streams are bounded by their own limits, not this one).
//!
//! The limit is either fixed (`MAX_IN_FLIGHT`) or adaptive below it ([`adaptive`]): beyond
//! capacity, whatever is admitted above capacity × latency only waits, so the adaptive limit
//! follows that product from the latency it sees.

pub mod adaptive;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use prometheus::{IntCounter, IntGauge};
use tower::{Layer, Service};

use crate::log_budget::LogBudget;
use adaptive::Gradient;

/// Builds the refusal for a request that is shed (it sees the request's headers to answer
/// in the caller's protocol).
pub type Refusal<RB> = Arc<dyn Fn(&http::HeaderMap, usize) -> http::Response<RB> + Send + Sync>;

/// How many requests a server works on at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Never more than this.
    pub max: usize,
    /// Below `max`, follow capacity × latency ([`adaptive`]).
    pub adaptive: bool,
}

impl Limit {
    pub fn fixed(max: usize) -> Self {
        Self { max, adaptive: false }
    }
}

/// What every clone of a layer shares.
struct State {
    in_flight: AtomicUsize,
    /// The most in flight since the adaptive limit last judged.
    peak: AtomicUsize,
    limit: AtomicUsize,
    gradient: Option<Mutex<Gradient>>,
    /// `mercato_in_flight_limit`, once counted.
    gauge: std::sync::OnceLock<IntGauge>,
}

impl State {
    /// A completed request's latency, for the adaptive limit.
    fn answered(&self, started: Instant) {
        let Some(gradient) = &self.gradient else { return };
        let now = Instant::now();
        let Ok(mut gradient) = gradient.lock() else { return };
        let in_flight = &self.in_flight;
        let peak = || self.peak.swap(in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
        if let Some(limit) = gradient.record(now, started, peak) {
            self.limit.store(limit, Ordering::Relaxed);
            if let Some(gauge) = self.gauge.get() {
                gauge.set(i64::try_from(limit).unwrap_or(i64::MAX));
            }
        }
    }
}

/// An admitted request's place, given back however the request ends (a cancelled one too).
struct Place(Arc<State>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// See the module docs.
pub struct ShedLayer<RB> {
    state: Arc<State>,
    refuse: Refusal<RB>,
    /// Requests refused (`mercato_shed_total`), and a line a second saying so.
    refused: Option<IntCounter>,
    log: Arc<LogBudget>,
}

impl<RB> Clone for ShedLayer<RB> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            refuse: self.refuse.clone(),
            refused: self.refused.clone(),
            log: self.log.clone(),
        }
    }
}

impl<RB> std::fmt::Debug for ShedLayer<RB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShedLayer").field("limit", &self.limit()).finish_non_exhaustive()
    }
}

impl<RB> ShedLayer<RB> {
    pub fn new(limit: Limit, refuse: Refusal<RB>) -> Self {
        let max = limit.max.max(1);
        let state = State {
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            limit: AtomicUsize::new(max),
            gradient: limit.adaptive.then(|| Mutex::new(Gradient::new(max, Instant::now()))),
            gauge: std::sync::OnceLock::new(),
        };
        Self { state: Arc::new(state), refuse, refused: None, log: Arc::new(LogBudget::per_second(1)) }
    }

    /// The limit now.
    pub fn limit(&self) -> usize {
        self.state.limit.load(Ordering::Relaxed)
    }

    /// Counts refusals in `registry` as `mercato_shed_total` (for a layer that sits outside
    /// the server's request metrics, where refusals are otherwise not seen), and exports the
    /// limit as `mercato_in_flight_limit`.
    pub fn counted(mut self, registry: &prometheus::Registry) -> Self {
        if let Ok(counter) =
            IntCounter::new("mercato_shed_total", "Requests refused because the server was at capacity.")
        {
            let _ = registry.register(Box::new(counter.clone()));
            self.refused = Some(counter);
        }
        if let Ok(gauge) = IntGauge::new(
            "mercato_in_flight_limit",
            "Requests worked on at once before more are refused (MAX_IN_FLIGHT, or below it when adaptive).",
        ) {
            gauge.set(i64::try_from(self.limit()).unwrap_or(i64::MAX));
            let _ = registry.register(Box::new(gauge.clone()));
            let _ = self.state.gauge.set(gauge);
        }
        self
    }
}

impl ShedLayer<tonic::body::Body> {
    /// For gRPC servers: RESOURCE_EXHAUSTED, which the kit's clients retry for idempotent
    /// calls (within their budget) and count against this server's circuit.
    pub fn grpc(limit: Limit) -> Self {
        Self::new(
            limit,
            Arc::new(|_, limit| {
                tonic::Status::resource_exhausted(format!("the server is at capacity ({limit} requests in progress)"))
                    .into_http()
            }),
        )
    }
}

impl<S, RB> Layer<S> for ShedLayer<RB> {
    type Service = Shed<S, RB>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed { inner, layer: self.clone() }
    }
}

pub struct Shed<S, RB> {
    inner: S,
    layer: ShedLayer<RB>,
}

impl<S: Clone, RB> Clone for Shed<S, RB> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), layer: self.layer.clone() }
    }
}

impl<S: std::fmt::Debug, RB> std::fmt::Debug for Shed<S, RB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shed").field("inner", &self.inner).field("limit", &self.layer.limit()).finish()
    }
}

impl<S, B, RB> Service<http::Request<B>> for Shed<S, RB>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let state = &self.layer.state;
        let in_flight = state.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let place = Place(state.clone());
        let limit = state.limit.load(Ordering::Relaxed);
        if in_flight > limit {
            drop(place);
            if let Some(refused) = &self.layer.refused {
                refused.inc();
            }
            if let Some(suppressed) = self.layer.log.admit() {
                tracing::warn!(limit, suppressed, "at capacity: refusing requests");
            }
            let refusal = (self.layer.refuse)(req.headers(), limit);
            return Box::pin(async move { Ok(refusal) });
        }
        state.peak.fetch_max(in_flight, Ordering::Relaxed);
        let started = Instant::now();
        let future = self.inner.call(req);
        Box::pin(async move {
            let response = future.await;
            place.0.answered(started);
            drop(place);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, time::Duration};

    use tokio::{sync::Semaphore, task::JoinSet};
    use tower::ServiceExt;

    use super::*;

    /// A server that does one request at a time, 1 ms each: whatever else is in flight queues.
    fn one_at_a_time() -> impl Service<
        http::Request<()>,
        Response = http::Response<&'static str>,
        Error = Infallible,
        Future = impl Future<Output = Result<http::Response<&'static str>, Infallible>> + Send + 'static,
    > + Clone {
        let worker = Arc::new(Semaphore::new(1));
        tower::service_fn(move |_| {
            let worker = worker.clone();
            async move {
                let _busy = worker.acquire().await;
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, Infallible>(http::Response::new("ok"))
            }
        })
    }

    fn refusing(limit: Limit) -> ShedLayer<&'static str> {
        ShedLayer::new(limit, Arc::new(|_, _| http::Response::builder().status(503).body("busy").unwrap_or_default()))
    }

    /// `callers` asking again as soon as answered, until `until`: (served, refused).
    async fn closed_loop<S>(service: S, callers: usize, until: tokio::time::Instant) -> (u64, u64)
    where
        S: Service<http::Request<()>, Response = http::Response<&'static str>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send,
    {
        let mut tasks = JoinSet::new();
        for _ in 0..callers {
            let service = service.clone();
            tasks.spawn(async move {
                let (mut served, mut refused) = (0, 0);
                while tokio::time::Instant::now() < until {
                    let Ok(response) = service.clone().oneshot(http::Request::new(())).await;
                    if response.status() == 200 {
                        served += 1;
                    } else {
                        refused += 1;
                        // A refused caller backs off, as Retry-After asks.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                (served, refused)
            });
        }
        let mut totals = (0, 0);
        while let Some(Ok((served, refused))) = tasks.join_next().await {
            totals.0 += served;
            totals.1 += refused;
        }
        totals
    }

    #[tokio::test]
    async fn a_fixed_limit_admits_exactly_its_maximum() {
        let layer = refusing(Limit::fixed(3));
        let service = layer.layer(one_at_a_time());
        let until = tokio::time::Instant::now() + Duration::from_millis(300);
        let (served, refused) = closed_loop(service, 50, until).await;
        assert!(served > 0 && refused > 0, "served {served}, refused {refused}");
        assert_eq!(layer.limit(), 3);
        assert_eq!(layer.state.in_flight.load(Ordering::Relaxed), 0, "every place is given back");
    }

    #[tokio::test]
    async fn an_adaptive_limit_falls_to_what_the_server_does_without_queueing_and_exports_it() {
        let registry = prometheus::Registry::new();
        let layer = refusing(Limit { max: 256, adaptive: true }).counted(&registry);
        let service = layer.layer(one_at_a_time());
        // 200 callers against one-at-a-time: the queue, not the work, is most of the latency.
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        let (served, refused) = closed_loop(service, 200, until).await;
        let limit = layer.limit();
        assert!(limit < 64, "the limit is still {limit} of 256 (served {served}, refused {refused})");
        assert!(refused > 0);
        let mut text = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &registry.gather(), &mut text).unwrap();
        let text = String::from_utf8_lossy(&text);
        let exported = text.lines().find_map(|l| l.strip_prefix("mercato_in_flight_limit ")?.parse::<f64>().ok());
        assert_eq!(exported, Some(limit as f64));
        assert_eq!(layer.state.in_flight.load(Ordering::Relaxed), 0, "every place is given back");
    }
}
