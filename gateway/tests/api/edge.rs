//! Edge policies: rate limits, CORS, body limits, request ids, probes and metrics.

use http::{Method, StatusCode};
use mercato_kit::testing::http_get;

use crate::helpers::{SEEDED_ID, Stack, dead_url, get, http};

#[tokio::test]
async fn login_attempts_are_rate_limited_per_ip_with_standard_headers() {
    let stack = Stack::start_with(&["--auth-rate-limit-per-minute", "3"]).await;
    let url = stack.url("/v1/sessions");
    let attempt = || http(Method::POST, &url, &[], r#"{"email": "who@example.com", "password": "wrong password!!"}"#);
    for i in 0..3 {
        let reply = attempt().await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert_eq!(reply.headers["ratelimit-limit"], "3");
        assert_eq!(reply.headers["ratelimit-remaining"], (2 - i).to_string().as_str());
    }
    let limited = attempt().await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json()["code"], 8);
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert!(limited.headers.contains_key("ratelimit-reset"));

    // Browsing has its own, larger budget.
    assert_eq!(get(&stack.url(&format!("/v1/products/{SEEDED_ID}"))).await.status, StatusCode::OK);

    // Counted by the limit that refused, and by route like every answer of the edge.
    let (_, metrics) = http_get(stack.gateway_admin, "/metrics").await.unwrap();
    assert!(metrics.contains(r#"mercato_rate_limited_total{limit="credentials"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"mercato_rate_limited_total{limit="general"} 0"#), "{metrics}");
    let refused = r#"http_server_requests_total{kind="rest",route="POST /v1/sessions",status="429"} 1"#;
    assert!(metrics.contains(refused), "{metrics}");
    stack.stop().await;
}

#[tokio::test]
async fn cors_preflight_body_limit_and_request_ids() {
    let stack = Stack::start_with(&["--cors-origins", "https://shop.example", "--max-body-bytes", "2048"]).await;
    let preflight = http(
        Method::OPTIONS,
        &stack.url("/v1/products"),
        &[
            ("origin", "https://shop.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization,content-type"),
        ],
        "",
    )
    .await;
    assert!(preflight.status.is_success());
    assert_eq!(preflight.headers["access-control-allow-origin"], "https://shop.example");
    let foreign = http(
        Method::OPTIONS,
        &stack.url("/v1/products"),
        &[("origin", "https://evil.example"), ("access-control-request-method", "POST")],
        "",
    )
    .await;
    assert!(!foreign.headers.contains_key("access-control-allow-origin"));

    let big = format!(r#"{{"email": "{}@example.com"}}"#, "x".repeat(4096));
    let too_large = http(Method::POST, &stack.url("/v1/users"), &[], &big).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);

    let huge_header = "h".repeat(32 * 1024);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = http::Request::get(stack.url("/v1/categories"))
        .header("x-padding", huge_header.as_str())
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let outcome = client.request(request).await;
    // hyper answers 431 when the header section is over the limit (or drops the connection).
    assert!(
        outcome.as_ref().map_or(true, |r| r.status() == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        "{outcome:?}"
    );

    let kept = http(Method::GET, &stack.url("/v1/categories"), &[("x-request-id", "my-trace-42")], "").await;
    assert_eq!(kept.headers["x-request-id"], "my-trace-42");
    let replaced = http(Method::GET, &stack.url("/v1/categories"), &[("x-request-id", "bad id!")], "").await;
    let generated = replaced.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    stack.stop().await;
}

#[tokio::test]
async fn an_unavailable_upstream_is_503_fast_and_probes_report_upstreams() {
    let stack = Stack::start().await;
    let token = stack.identity.customer_token("orders@example.com").await.unwrap();
    let started = std::time::Instant::now();
    let down = http(Method::GET, &stack.url("/v1/orders"), &[("authorization", &format!("Bearer {token}"))], "").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", down.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let (code, body) = http_get(stack.gateway_admin, "/readyz").await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""catalog":"ok""#) && body.contains(r#""identity":"ok""#), "{body}");
    let (_, metrics) = http_get(stack.gateway_admin, "/metrics").await.unwrap();
    assert!(
        metrics.contains(r#"http_server_requests_total{kind="rest",route="GET /v1/orders",status="503"} 1"#),
        "{metrics}"
    );
    stack.stop().await;
}

/// The `route` label is the REST route's template or the gRPC method, never a path with an id
/// in it; what matches nothing is `unmatched`.
#[tokio::test]
async fn edge_metrics_are_labelled_by_route_template_or_grpc_method() {
    let stack = Stack::start().await;
    assert_eq!(get(&stack.url(&format!("/v1/products/{SEEDED_ID}"))).await.status, StatusCode::OK);
    assert_eq!(get(&stack.url(&format!("/v1/nothing/{SEEDED_ID}"))).await.status, StatusCode::NOT_FOUND);
    let mut catalog =
        mercato::catalog::v1::catalog_service_client::CatalogServiceClient::connect(stack.url("")).await.unwrap();
    let request = mercato::catalog::v1::GetProductRequest { id: SEEDED_ID.into() };
    catalog.get_product(request).await.unwrap();

    let (_, metrics) = http_get(stack.gateway_admin, "/metrics").await.unwrap();
    for series in [
        r#"http_server_requests_total{kind="rest",route="GET /v1/products/{id}",status="200"} 1"#,
        r#"http_server_requests_total{kind="rest",route="unmatched",status="404"} 1"#,
        r#"http_server_requests_total{kind="grpc",route="/mercato.catalog.v1.CatalogService/GetProduct",status="200"} 1"#,
        r#"http_server_request_duration_seconds_count{kind="rest",route="GET /v1/products/{id}"} 1"#,
        r#"http_server_request_duration_seconds_count{kind="grpc",route="/mercato.catalog.v1.CatalogService/GetProduct"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    assert!(!metrics.contains(SEEDED_ID), "an id in a label:\n{metrics}");
    stack.stop().await;
}

#[tokio::test]
async fn readiness_covers_every_configured_upstream_and_a_dead_one_is_503_fast() {
    let dead = dead_url();
    let stack = Stack::start_with(&["--orders-url", &dead]).await;
    let token = stack.identity.customer_token("orders-down@example.com").await.unwrap();
    let started = std::time::Instant::now();
    let down = http(Method::GET, &stack.url("/v1/orders"), &[("authorization", &format!("Bearer {token}"))], "").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", down.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let (code, body) = http_get(stack.gateway_admin, "/readyz").await.unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains(r#""catalog":"ok""#) && body.contains(r#""identity":"ok""#), "{body}");
    assert!(body.contains(r#""orders":"#) && !body.contains(r#""orders":"ok""#), "{body}");
    assert!(!body.contains("payments"), "an unconfigured context is not waited for: {body}");
    stack.stop().await;
}

#[tokio::test]
async fn an_unconfigured_context_says_so() {
    let stack = Stack::start().await;
    let token = stack.identity.customer_token("unrouted@example.com").await.unwrap();
    let reply = http(Method::GET, &stack.url("/v1/orders"), &[("authorization", &format!("Bearer {token}"))], "").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.json()["message"].as_str().unwrap().contains("ORDERS_URL is unset"), "{:?}", reply.body);
    stack.stop().await;
}

#[tokio::test]
async fn bad_config_is_refused_before_any_port_is_bound() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--catalog-url", "ftp://nowhere", "--rate-limit-per-minute", "0", "--cors-origins", "not an origin"])
        .args(["--orders-url", "orders:50053"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for setting in ["CATALOG_URL", "RATE_LIMIT_PER_MINUTE", "CORS_ORIGINS", "ORDERS_URL"] {
        assert!(stderr.contains(setting), "{setting} missing: {stderr}");
    }
}

/// Each upstream URL is checked for scheme, host and port range before anything starts: an
/// https upstream (unsupported), port 99999 and a missing host are each named with why.
#[tokio::test]
async fn upstream_urls_with_an_unsupported_scheme_a_bad_port_or_no_host_exit_78_each_named() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--catalog-url", "https://catalog:50052"])
        .args(["--orders-url", "http://127.0.0.1:99999"])
        .args(["--payments-url", "http://:50054"])
        .args(["--identity-url", "http://identity"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for (setting, why) in [
        ("CATALOG_URL", "https is not supported"),
        ("ORDERS_URL", "out of range"),
        ("PAYMENTS_URL", "no host"),
        ("IDENTITY_URL", "no port"),
    ] {
        let line = stderr.lines().find(|l| l.contains(setting));
        assert!(line.is_some_and(|l| l.contains(why)), "{setting}: {why} missing: {stderr}");
    }
}

/// The 503s of an outage show at the default log level: a warn line per failed request (up
/// to a limit per second) naming the cause, here the catalog nobody answers for.
#[tokio::test]
async fn an_upstream_outage_is_logged_at_warn_with_its_cause() {
    let (catalog, identity) = (dead_url(), dead_url());
    let args =
        [&mercato_kit::testing::FREE_PORTS[..], &["--catalog-url", &catalog, "--identity-url", &identity][..]].concat();
    let process = mercato_kit::testing::ServiceProcess::spawn(
        env!("CARGO_BIN_EXE_gateway"),
        &args,
        std::time::Duration::from_secs(20),
    )
    .await
    .unwrap();
    let (code, body) = http_get(process.grpc_addr, &format!("/v1/products/{SEEDED_ID}")).await.unwrap();
    assert_eq!(code, 503, "{body}");
    let found = mercato_kit::testing::eventually(std::time::Duration::from_secs(5), "the warn line", || async {
        process.log_lines().into_iter().find(|l| l.contains("request failed"))
    })
    .await;
    let line: serde_json::Value = serde_json::from_str(&found).unwrap();
    assert_eq!(line["level"], "WARN", "{found}");
    assert_eq!(line["status"], 503, "{found}");
    assert!(line["cause"].as_str().is_some_and(|c| c.starts_with("UNAVAILABLE")), "{found}");
    process.terminate().unwrap();
}
