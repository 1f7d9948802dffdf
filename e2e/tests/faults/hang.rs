//! A catalog that hangs (SIGSTOP) under load, then resumes (SIGCONT).

use std::time::Duration;

use futures::future::join_all;
use mercato_e2e::{SEEDED_PRODUCT, Stack, metric};
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(1);
/// More at once than a default listen backlog (128) holds.
const CALLERS: usize = 200;

/// What `CALLERS` callers got, each asking again and again for `for_how_long`: (status,
/// time taken) per request.
async fn load(stack: &Stack, for_how_long: Duration, until_ok: bool) -> Vec<(u16, Duration)> {
    let path = format!("/v1/products/{SEEDED_PRODUCT}");
    let started = Instant::now();
    let path = &path;
    let callers = (0..CALLERS).map(|caller| async move {
        // Callers arrive over the first 100 ms, as users do, not in one synchronised burst.
        tokio::time::sleep(Duration::from_micros(500) * u32::try_from(caller).unwrap_or(0)).await;
        let mut seen = Vec::new();
        while started.elapsed() < for_how_long {
            let asked = Instant::now();
            let (code, _) = stack.get(path).await.unwrap();
            seen.push((code, asked.elapsed()));
            if until_ok && code == 200 {
                break;
            }
            // A caller that gets a fast refusal does not spin (the refusal says Retry-After: 1;
            // a tenth of that keeps the pressure on). At 20 ms, 200 callers kept a debug-build
            // gateway's CPU so busy that a 504 sometimes left it 160 ms after its deadline.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen
    });
    join_all(callers).await.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_upstream_costs_a_caller_the_deadline_at_most_the_breaker_stops_sending_and_it_resumes_without_429s() {
    let deadline = format!("{}ms", DEADLINE.as_millis());
    // One connection to catalog: every cancelled call's reset arrives on it.
    let flags = ["--upstream-timeout", &deadline, "--upstream-connections", "1"];
    let stack = Stack::start(&[&flags[..], &["--breaker-min-calls", "10", "--breaker-cool-down", "1s"]].concat())
        .await
        .unwrap();
    let (code, body) = stack.get(&format!("/v1/products/{SEEDED_PRODUCT}")).await.unwrap();
    assert_eq!(code, 200, "{body}");
    let admin = stack.gateway.admin_addr;
    let sent_before = metric(admin, "mercato_client_attempts_total", ("downstream", "catalog")).await.unwrap();

    stack.catalog.pause().unwrap();
    let hung = load(&stack, Duration::from_millis(2500), false).await;
    let sent = metric(admin, "mercato_client_attempts_total", ("downstream", "catalog")).await.unwrap() - sent_before;
    let open = metric(admin, "mercato_client_circuit_state", ("downstream", "catalog")).await.unwrap();
    // Native gRPC through the gateway meets the same breaker: refused at once, not after a wait.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", stack.gateway.grpc_addr)).unwrap();
    let mut catalog = mercato::catalog::v1::catalog_service_client::CatalogServiceClient::new(channel.connect_lazy());
    let mut request = tonic::Request::new(mercato::catalog::v1::GetProductRequest { id: SEEDED_PRODUCT.into() });
    request.set_timeout(Duration::from_secs(5));
    let asked = Instant::now();
    let refused = catalog.get_product(request).await.unwrap_err();
    let waited = asked.elapsed();
    stack.catalog.resume().unwrap();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("circuit"), "{refused:?}");
    assert!(waited < DEADLINE, "a gRPC caller waited {waited:?} on an open circuit");

    let timed_out: Vec<Duration> = hung.iter().filter(|(code, _)| *code == 504).map(|(_, took)| *took).collect();
    let refused = hung.iter().filter(|(code, _)| *code == 503).count();
    assert!(hung.iter().all(|(code, _)| *code == 503 || *code == 504), "{hung:?}");
    let slowest = timed_out.iter().max().copied().unwrap_or_default();
    assert!(slowest <= DEADLINE.mul_f64(1.1), "a caller waited {slowest:?} for a {DEADLINE:?} deadline");
    // The first wave waits out the deadline; then the breaker answers at once, sending only a
    // probe per cool-down. Without it, every request would wait the full second.
    assert!(timed_out.len() <= CALLERS + 5, "{} timed out, {refused} refused at once", timed_out.len());
    assert!(refused >= CALLERS, "{} timed out, {refused} refused at once", timed_out.len());
    assert!(sent <= (CALLERS + 5) as f64, "{sent} calls sent to the hung catalog");
    assert_eq!(open, 2.0, "the circuit is open while catalog hangs");

    // Resumed: within the cool-down and a probe, every caller is served; none is told the
    // upstream is overloaded (catalog took the pile of resets for an attack before).
    let resumed = load(&stack, Duration::from_secs(5), true).await;
    assert!(resumed.iter().all(|(code, _)| *code != 429 && *code < 500 || *code == 503), "{resumed:?}");
    let served = resumed.iter().filter(|(code, _)| *code == 200).count();
    assert_eq!(served, CALLERS, "every caller served after the resume: {resumed:?}");
}
