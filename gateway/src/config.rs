//! The gateway's command line: the kit's common flags (the gRPC address is the edge port) plus
//! where each service lives and the edge policies' settings.

use std::time::Duration;

use clap::Parser;
use mercato_kit::{
    CommonArgs, CommonConfig, ConfigError, Problems,
    client::{DownstreamArgs, DownstreamConfig},
    config::{ServiceDefaults, check_http_url, check_upstream_url, parse_count, parse_duration},
};

use crate::policy::observe::AccessLog;

pub const DEFAULTS: ServiceDefaults =
    ServiceDefaults { name: "gateway", version: env!("CARGO_PKG_VERSION"), grpc_port: 8080, admin_port: 9080 };

/// mercato gateway: REST/JSON, grpc-web and gRPC on one port, in front of every service.
#[derive(Debug, Parser)]
#[command(name = "gateway", version)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// catalog's gRPC endpoint.
    #[arg(long, env = "CATALOG_URL", default_value = "http://127.0.0.1:50052")]
    pub catalog_url: String,
    // The contexts below have no default while their services are not built: an upstream the
    // gateway is configured with is one /readyz waits for. Unset, a context's routes answer
    // 503 (UNAVAILABLE) saying so; `just dev` sets each URL once the binary exists.
    /// orders' gRPC endpoint, e.g. http://127.0.0.1:50053 [default: not routed].
    #[arg(long, env = "ORDERS_URL")]
    pub orders_url: Option<String>,
    /// payments' gRPC endpoint, e.g. http://127.0.0.1:50054 [default: not routed].
    #[arg(long, env = "PAYMENTS_URL")]
    pub payments_url: Option<String>,
    /// shipping's gRPC endpoint, e.g. http://127.0.0.1:50055 [default: not routed].
    #[arg(long, env = "SHIPPING_URL")]
    pub shipping_url: Option<String>,
    /// notifications' gRPC endpoint, e.g. http://127.0.0.1:50056 [default: not routed].
    #[arg(long, env = "NOTIFICATIONS_URL")]
    pub notifications_url: Option<String>,

    /// Deadline for a call through the edge, sent upstream as grpc-timeout (a client's own
    /// shorter grpc-timeout wins).
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "30s")]
    pub upstream_timeout: String,
    /// HTTP/2 connections kept to each upstream, used in turn.
    #[arg(long, env = "UPSTREAM_CONNECTIONS", default_value = "4")]
    pub upstream_connections: String,
    /// Requests per minute per client (signed-in user, else client IP).
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value = "600")]
    pub rate_limit_per_minute: String,
    /// Requests per minute per client IP to login, registration and refresh (brute force).
    #[arg(long, env = "AUTH_RATE_LIMIT_PER_MINUTE", default_value = "10")]
    pub auth_rate_limit_per_minute: String,
    /// Use the first X-Forwarded-For address as the client IP (only behind a trusted proxy).
    #[arg(long, env = "TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Origins allowed by CORS, comma-separated; `*` allows any.
    #[arg(long, env = "CORS_ORIGINS", default_value = "http://localhost:3000,http://127.0.0.1:3000")]
    pub cors_origins: String,
    /// Largest request body in bytes (larger: 413).
    #[arg(long, env = "MAX_BODY_BYTES", default_value = "1048576")]
    pub max_body_bytes: String,
    /// Largest request header section in bytes (larger: 431).
    #[arg(long, env = "MAX_HEADER_BYTES", default_value = "16384")]
    pub max_header_bytes: String,
    /// How long GET /v1/home waits for each part before leaving it out.
    #[arg(long, env = "AGGREGATE_PART_TIMEOUT", default_value = "800ms")]
    pub aggregate_part_timeout: String,
    /// Which requests get an access-log line: `all` (each at info) or `failures` (only those
    /// that failed on our side, at warn, rate-limited; every request is still counted in the
    /// RED metrics). A line per request costs about a tenth of the gateway's CPU.
    #[arg(long, env = "ACCESS_LOG", default_value = "failures")]
    pub access_log: String,
    #[command(flatten)]
    pub downstream: DownstreamArgs,
}

/// Validated gateway configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub upstreams: Upstreams,
    pub upstream_timeout: Duration,
    pub upstream_connections: usize,
    pub rate_limit_per_minute: u32,
    pub auth_rate_limit_per_minute: u32,
    pub trust_forwarded_for: bool,
    pub cors_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub aggregate_part_timeout: Duration,
    pub access_log: AccessLog,
    /// Bulkhead, breaker and retries of the calls to each upstream.
    pub downstream: DownstreamConfig,
}

/// The bounded contexts this gateway routes to, each with its endpoint: what it proxies and
/// what its /readyz waits for.
#[derive(Debug, Clone, Default)]
pub struct Upstreams(pub Vec<(&'static str, String)>);

impl Upstreams {
    pub fn url(&self, context: &str) -> Option<&str> {
        self.0.iter().find(|(c, _)| *c == context).map(|(_, url)| url.as_str())
    }
}

impl Cli {
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut p = Problems::default();
        let common = self.common.validate(DEFAULTS, &mut p);
        let catalog = p.check("CATALOG_URL (--catalog-url)", check_upstream_url(&self.catalog_url));
        let mut optional = Some(Vec::new());
        for (context, setting, raw) in [
            ("orders", "ORDERS_URL (--orders-url)", &self.orders_url),
            ("payments", "PAYMENTS_URL (--payments-url)", &self.payments_url),
            ("shipping", "SHIPPING_URL (--shipping-url)", &self.shipping_url),
            ("notifications", "NOTIFICATIONS_URL (--notifications-url)", &self.notifications_url),
        ] {
            let Some(raw) = raw else { continue };
            match p.check(setting, check_upstream_url(raw)) {
                Some(url) => optional.iter_mut().for_each(|list| list.push((context, url.clone()))),
                None => optional = None,
            }
        }
        let upstream_timeout = p.check("UPSTREAM_TIMEOUT (--upstream-timeout)", parse_duration(&self.upstream_timeout));
        let connections =
            p.check("UPSTREAM_CONNECTIONS (--upstream-connections)", parse_count(&self.upstream_connections, 1, 64));
        let rate = p.check(
            "RATE_LIMIT_PER_MINUTE (--rate-limit-per-minute)",
            parse_count(&self.rate_limit_per_minute, 1, 1_000_000),
        );
        let auth_rate = p.check(
            "AUTH_RATE_LIMIT_PER_MINUTE (--auth-rate-limit-per-minute)",
            parse_count(&self.auth_rate_limit_per_minute, 1, 1_000_000),
        );
        let body =
            p.check("MAX_BODY_BYTES (--max-body-bytes)", parse_count(&self.max_body_bytes, 1024, 64 * 1024 * 1024));
        let header =
            p.check("MAX_HEADER_BYTES (--max-header-bytes)", parse_count(&self.max_header_bytes, 1024, 1024 * 1024));
        let part =
            p.check("AGGREGATE_PART_TIMEOUT (--aggregate-part-timeout)", parse_duration(&self.aggregate_part_timeout));
        let access_log = p.check("ACCESS_LOG (--access-log)", self.access_log.parse::<AccessLog>());
        let downstream = self.downstream.validate(&mut p);
        let cors_origins: Vec<String> =
            self.cors_origins.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_string).collect();
        for origin in &cors_origins {
            if origin != "*" && check_http_url(origin).is_err() {
                p.push(
                    "CORS_ORIGINS (--cors-origins)",
                    format!("{origin:?} is not an origin such as https://shop.example"),
                );
            }
        }
        let config = (|| {
            let common = common?;
            Some(Config {
                upstreams: Upstreams(
                    [("identity", common.auth.identity_url.clone()), ("catalog", catalog?)]
                        .into_iter()
                        .chain(optional?)
                        .collect(),
                ),
                common,
                upstream_timeout: upstream_timeout?,
                upstream_connections: usize::try_from(connections?).ok()?,
                rate_limit_per_minute: rate?,
                auth_rate_limit_per_minute: auth_rate?,
                trust_forwarded_for: self.trust_forwarded_for,
                cors_origins,
                max_body_bytes: usize::try_from(body?).ok()?,
                max_header_bytes: usize::try_from(header?).ok()?,
                aggregate_part_timeout: part?,
                access_log: access_log?,
                downstream: downstream?,
            })
        })();
        p.finish(config)
    }
}
