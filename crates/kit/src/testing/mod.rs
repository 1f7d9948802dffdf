//! Helpers for integration tests (feature `testing`): fresh databases on real servers, services
//! started in-process or as processes, and polling with a deadline instead of sleeping.
//!
//! Every wait here is a deadline scaled by [`patience`]: on a loaded machine (CI on two cores)
//! set `MERCATO_TEST_PATIENCE=3` to triple them all, rather than loosening a test.

mod bus;
mod database;
pub mod effects;
mod grpc;
mod nats;
mod process;
mod running;

use std::{future::Future, time::Duration};

pub use self::{
    bus::Bus,
    database::{Backend, DEFAULT_PG_ADMIN_URL, TestDatabase},
    grpc::{next, next_within, violated_fields},
    nats::TestNats,
    process::ServiceProcess,
    running::Running,
};

/// The environment variable holding the patience factor (a positive number, default 1).
pub const PATIENCE_VAR: &str = "MERCATO_TEST_PATIENCE";

/// `deadline` scaled by the patience factor of the environment (see the module docs).
pub fn patience(deadline: Duration) -> Duration {
    deadline.mul_f64(factor(std::env::var(PATIENCE_VAR).ok().as_deref()))
}

/// The factor `raw` asks for: a positive number (kept within 0.1-100), else 1.
fn factor(raw: Option<&str>) -> f64 {
    raw.and_then(|raw| raw.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0)
        .map_or(1.0, |f| f.clamp(0.1, 100.0))
}

/// Polls `probe` every 10 ms until it returns `Some`, or panics after `deadline` (times the
/// patience factor) naming `what`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = patience(deadline);
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < until, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Flags that put a binary's gRPC and admin listeners on free loopback ports.
pub const FREE_PORTS: [&str; 4] = ["--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"];

/// The command line every in-process test service starts from: `binary` on free loopback ports
/// over `database`. Callers append their service's own flags.
pub fn service_args(binary: &str, database: &TestDatabase) -> Vec<String> {
    let mut args = vec![binary.to_string()];
    args.extend(FREE_PORTS.map(str::to_string));
    args.extend(["--database-url".to_string(), database.url().to_string()]);
    args
}

/// `scheme://127.0.0.1:<port>` for a port nothing listens on: an upstream or broker a test
/// must never reach (nor the machine's own NATS on 4222). The port stays bound, without
/// listening, for the rest of the process, so connects are refused and no server started
/// meanwhile (by this test or a parallel one) can take it; a released port could be handed
/// out again at once, and the "dead" upstream would answer.
pub fn dead_url(scheme: &str) -> String {
    let reserved = tokio::net::TcpSocket::new_v4().and_then(|socket| {
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = socket.local_addr()?;
        // Held until the test process exits: that is the reservation.
        std::mem::forget(socket);
        Ok(addr)
    });
    format!("{scheme}://{}", reserved.map_or_else(|_| "127.0.0.1:9".to_string(), |addr| addr.to_string()))
}

/// The sum of the series of `name` that carry `label`, in Prometheus' text exposition.
pub fn metric(exposition: &str, name: &str, label: (&str, &str)) -> f64 {
    let (series, wanted) = (format!("{name}{{"), format!("{}=\"{}\"", label.0, label.1));
    exposition
        .lines()
        .filter(|line| line.starts_with(&series) && line.contains(&wanted))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of exactly `series` — `name`, or `name{labels}` with the labels in the order the
/// exposition sorts them (by name) — in Prometheus' text exposition; `None` if it is not there.
pub fn series(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A plain GET on loopback: status code and body. Enough for the admin endpoints, without
/// pulling an HTTP client into every test binary.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    http(addr, "GET", path, &[], "").await
}

/// One HTTP/1.1 request on a fresh connection (closed after it): the status and the body,
/// de-chunked. `headers` are extra `Name: value` lines.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, String)> {
    http_response(addr, method, path, headers, body).await.map(|(status, _, body)| (status, body))
}

/// [`http`], with the response's headers (names lower-cased) between status and body.
pub async fn http_response(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, Vec<(String, String)>, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = patience(Duration::from_secs(10));
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let mut raw = Vec::new();
    tokio::time::timeout(deadline, async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        stream.read_to_end(&mut raw).await
    })
    .await
    .map_err(|_| anyhow::anyhow!("{method} {path} on {addr}: no answer within {deadline:?}"))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line in {head:?}"))?;
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked"));
    let fields = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok((status, fields, if chunked { dechunk(body) } else { body.to_string() }))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out
}

/// Runs a test body (an `async fn(Backend)` in the enclosing module) once on SQLite and once on
/// PostgreSQL, as two tests named `<body>::on_sqlite` and `<body>::on_postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn on_sqlite() {
                super::$name($crate::testing::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn on_postgres() {
                super::$name($crate::testing::Backend::Postgres).await
            }
        }
    )*};
}

/// The `sub` of a JWT, read without verifying it (the test made the token); empty when the
/// token has none.
pub fn token_subject(token: &str) -> String {
    use base64::Engine;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|payload| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok());
    claims.and_then(|c| c["sub"].as_str().map(str::to_string)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patience_factor_is_a_positive_number_or_one() {
        assert_eq!(factor(None), 1.0);
        assert_eq!(factor(Some(" 3 ")), 3.0);
        assert_eq!(factor(Some("0.5")), 0.5);
        for bad in ["0", "-2", "slow", "NaN", "inf"] {
            assert_eq!(factor(Some(bad)), 1.0, "{bad}");
        }
        assert_eq!(factor(Some("1e9")), 100.0);
    }
}
