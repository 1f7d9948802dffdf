//! The bench's command line.

use std::{path::PathBuf, time::Duration};

use clap::Parser;

/// A product that catalog's bundled seed always contains.
pub const SEEDED_PRODUCT_ID: &str = "364dc957-51ca-4f13-889e-665df2d6633f";

/// Measures catalog (start-up, memory, GetProduct throughput and latency) against a bare tonic
/// echo server, then the gateway's REST GetProduct (wrk) against a bare hyper server and direct
/// gRPC. Creates and drops its own PostgreSQL database.
#[derive(Debug, Clone, Parser)]
#[command(name = "bench", version)]
pub struct Args {
    /// The catalog binary (build it with `cargo build --release -p mercato-catalog`).
    #[arg(long, default_value = "target/release/catalog")]
    pub catalog_bin: PathBuf,

    /// The echo-server binary from this crate.
    #[arg(long, default_value = "target/release/echo-server")]
    pub echo_bin: PathBuf,

    /// The gateway binary (build it with `cargo build --release -p mercato-gateway`).
    #[arg(long, default_value = "target/release/gateway")]
    pub gateway_bin: PathBuf,

    /// The hyper-json binary from this crate (the REST ceiling).
    #[arg(long, default_value = "target/release/hyper-json")]
    pub hyper_json_bin: PathBuf,

    /// wrk, the HTTP/1.1 load generator (`apt-get install wrk`): a name looked up on PATH, or a path.
    #[arg(long, default_value = "wrk")]
    pub wrk: PathBuf,

    /// PostgreSQL URL with rights to create and drop databases. TLS is off by default: on
    /// loopback it only adds sqlx's handshake cost (~170 ms per connection here, see the issue
    /// notes) to the start-up figure; pass a URL without `sslmode=disable` to measure with it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")]
    pub pg_admin_url: String,

    /// How many times catalog is started to measure spawn → SERVING.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub startup_runs: u32,

    /// Requests in flight at any time during the load test.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// HTTP/2 connections the in-flight requests are spread over.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,

    /// REST load: wrk's keep-alive connections; the direct gRPC comparison keeps as many
    /// requests in flight.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_connections: u32,

    /// REST load: wrk's threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub wrk_threads: u32,

    /// The gateway's --rate-limit-per-minute during the REST load (its most, so the limit never
    /// bites: the bucket starts full).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub gateway_rate_limit: u32,

    /// The gateway's --worker-threads during the REST load. wrk, the gateway and catalog share
    /// this machine's cores, so the gateway gets about one core's worth: one worker models a
    /// one-CPU limit, where more workers than its share would only add context switches.
    /// 0: the gateway's own default (one per CPU).
    #[arg(long, default_value_t = 1)]
    pub gateway_worker_threads: u32,

    /// Load before measuring, discarded (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Measured load per target (e.g. 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// The product id every GetProduct asks for; it must exist after `catalog seed`.
    #[arg(long, default_value = SEEDED_PRODUCT_ID)]
    pub product_id: String,
}

/// `250ms`, `2s`, `1m` or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("{raw:?} is not a duration like 500ms, 2s or 1m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{raw:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{raw:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_the_usual_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3h").is_err());
    }
}
