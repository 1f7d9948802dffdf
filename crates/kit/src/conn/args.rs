//! The flags every server takes for what it lets callers hold: connections, their idle and
//! header-read time, and requests in progress.

use super::{ConnLimits, Timeouts};
use crate::{
    config::{Problems, parse_count, parse_positive_duration},
    shed::Limit,
};

// The defaults, once: for the command line and for `ServeArgs::default()`.
const MAX_IN_FLIGHT: &str = "256";
const IN_FLIGHT_LIMIT: &str = "fixed";
const MAX_CONNECTIONS: &str = "10000";
const MAX_CONNECTIONS_PER_IP: &str = "1000";
const HEADER_READ_TIMEOUT: &str = "10s";
const IDLE_TIMEOUT: &str = "120s";

/// Raw strings, checked in [`ServeArgs::validate`].
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Requests worked on at once; one more is refused at once (gRPC RESOURCE_EXHAUSTED, REST
    /// 503 with Retry-After) rather than queued. Best near capacity × latency (Little's law):
    /// what is admitted beyond that only waits, and its latency grows with the limit.
    #[arg(long, global = true, env = "MAX_IN_FLIGHT", default_value = MAX_IN_FLIGHT)]
    pub max_in_flight: String,
    /// `fixed`: always MAX_IN_FLIGHT. `adaptive`: below MAX_IN_FLIGHT, the limit follows
    /// capacity × latency from the latency the server sees (it shrinks when the admitted start
    /// to queue, and grows back when they do not); see `kit::shed::adaptive` and the README.
    #[arg(long, global = true, env = "IN_FLIGHT_LIMIT", default_value = IN_FLIGHT_LIMIT)]
    pub in_flight_limit: String,
    /// Open connections in all; more are closed as soon as they are accepted. Keep it below
    /// the process's open-file limit (`ulimit -n`), with room for its own files and upstreams.
    #[arg(long, global = true, env = "MAX_CONNECTIONS", default_value = MAX_CONNECTIONS)]
    pub max_connections: String,
    /// Open connections from one client IP (behind a proxy that hides client IPs, raise it to
    /// MAX_CONNECTIONS).
    #[arg(long, global = true, env = "MAX_CONNECTIONS_PER_IP", default_value = MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: String,
    /// How long a connection may take to send its first request, and an HTTP/1 request its
    /// headers (then 408); slower ones are closed.
    #[arg(long, global = true, env = "HEADER_READ_TIMEOUT", default_value = HEADER_READ_TIMEOUT)]
    pub header_read_timeout: String,
    /// How long a connection may stay open with no request in progress.
    #[arg(long, global = true, env = "IDLE_TIMEOUT", default_value = IDLE_TIMEOUT)]
    pub idle_timeout: String,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            max_in_flight: MAX_IN_FLIGHT.into(),
            in_flight_limit: IN_FLIGHT_LIMIT.into(),
            max_connections: MAX_CONNECTIONS.into(),
            max_connections_per_ip: MAX_CONNECTIONS_PER_IP.into(),
            header_read_timeout: HEADER_READ_TIMEOUT.into(),
            idle_timeout: IDLE_TIMEOUT.into(),
        }
    }
}

/// What a server lets its callers hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    pub in_flight: Limit,
    pub conn: ConnLimits,
}

impl ServeArgs {
    pub fn validate(&self, p: &mut Problems) -> Option<ServeLimits> {
        let in_flight = p.check("MAX_IN_FLIGHT (--max-in-flight)", parse_count(&self.max_in_flight, 1, 1_000_000));
        let adaptive = p.check("IN_FLIGHT_LIMIT (--in-flight-limit)", parse_kind(&self.in_flight_limit));
        let total = p.check("MAX_CONNECTIONS (--max-connections)", parse_count(&self.max_connections, 1, 10_000_000));
        let per_ip = p.check(
            "MAX_CONNECTIONS_PER_IP (--max-connections-per-ip)",
            parse_count(&self.max_connections_per_ip, 1, 10_000_000),
        );
        let header =
            p.check("HEADER_READ_TIMEOUT (--header-read-timeout)", parse_positive_duration(&self.header_read_timeout));
        let idle = p.check("IDLE_TIMEOUT (--idle-timeout)", parse_positive_duration(&self.idle_timeout));
        Some(ServeLimits {
            in_flight: Limit { max: usize::try_from(in_flight?).ok()?, adaptive: adaptive? },
            conn: ConnLimits {
                max_connections: usize::try_from(total?).ok()?,
                max_per_ip: usize::try_from(per_ip?).ok()?,
                timeouts: Timeouts { header: header?, idle: idle? },
            },
        })
    }
}

fn parse_kind(raw: &str) -> Result<bool, String> {
    match raw {
        "adaptive" => Ok(true),
        "fixed" => Ok(false),
        other => Err(format!("{other:?}: must be `adaptive` or `fixed`")),
    }
}
