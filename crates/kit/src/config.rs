//! Configuration shared by every binary. Flags arrive as raw strings (from the command line or
//! the environment) and are parsed in [`CommonArgs::validate`], so that one start reports every
//! problem at once instead of the first one clap trips over.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use crate::{
    auth::AuthSettings,
    conn::{ServeArgs, ServeLimits},
    nats::{NatsArgs, NatsConfig},
    secret::Secret,
    telemetry::LogConfig,
    trace::{TraceArgs, TraceConfig},
};

/// Exit code for invalid configuration (`EX_CONFIG` from sysexits.h).
pub const EXIT_CONFIG: u8 = 78;

/// Flags every service binary accepts. Each is also read from the environment variable named
/// in its help.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// gRPC listen address [default: 127.0.0.1:<the service's port>]. Port 0 picks a free one.
    #[arg(long, global = true, env = "GRPC_ADDR")]
    pub grpc_addr: Option<String>,

    /// Admin HTTP listen address for /healthz /readyz /startupz /metrics [default:
    /// 127.0.0.1:<the service's admin port>].
    #[arg(long, global = true, env = "ADMIN_ADDR")]
    pub admin_addr: Option<String>,

    /// Log format: `json` (one object per line) or `pretty` (for people).
    #[arg(long, global = true, env = "LOG_FORMAT", default_value = "json")]
    pub log_format: String,

    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `info,sqlx=warn`.
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// After a shutdown signal: how long to keep serving while reporting NOT_SERVING, so load
    /// balancers stop routing here before the listener closes.
    #[arg(long, global = true, env = "SHUTDOWN_DELAY", default_value = "0s")]
    pub shutdown_delay: String,

    /// Upper bound on the whole shutdown (delay + draining in-flight calls).
    #[arg(long, global = true, env = "SHUTDOWN_TIMEOUT", default_value = "20s")]
    pub shutdown_timeout: String,

    /// Longest a call may run in this service (a caller's shorter grpc-timeout wins). Sits
    /// between the edge's deadline (30s) and the database's statement timeout (5s).
    #[arg(long, global = true, env = "REQUEST_TIMEOUT", default_value = "10s")]
    pub request_timeout: String,

    /// identity's gRPC endpoint: signing keys (JWKS) and service tokens come from there.
    #[arg(long, global = true, env = "IDENTITY_URL", default_value = "http://127.0.0.1:50051")]
    pub identity_url: String,

    /// Issuer (`iss`) every accepted token must carry.
    #[arg(long, global = true, env = "JWT_ISSUER", default_value = "mercato-identity")]
    pub jwt_issuer: String,

    /// Audience (`aud`) of end-user tokens.
    #[arg(long, global = true, env = "JWT_AUDIENCE", default_value = "mercato")]
    pub jwt_audience: String,

    /// Audience (`aud`) of service-to-service tokens; must differ from JWT_AUDIENCE.
    #[arg(long, global = true, env = "JWT_SERVICE_AUDIENCE", default_value = "mercato-internal")]
    pub jwt_service_audience: String,

    /// This service's client secret for obtaining service tokens from identity (16+ characters).
    #[arg(long, global = true, env = "SERVICE_CLIENT_SECRET", hide_env_values = true)]
    pub service_client_secret: Option<String>,

    /// Threads that serve requests [default: the CPUs this process may use, cgroup CPU quota
    /// included]. Set it to the CPU share the process really gets: threads beyond that only
    /// add wake-ups and context switches.
    #[arg(long, global = true, env = "WORKER_THREADS")]
    pub worker_threads: Option<String>,

    #[command(flatten)]
    pub nats: NatsArgs,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(flatten)]
    pub trace: TraceArgs,
}

/// Per-service defaults for the common flags.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDefaults {
    /// The service's name: the SQLite file name and the `service` field of every log line.
    pub name: &'static str,
    /// The service's version, shown in logs and /metrics.
    pub version: &'static str,
    pub grpc_port: u16,
    pub admin_port: u16,
}

/// Validated common configuration.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub service: &'static str,
    pub version: &'static str,
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub log: LogConfig,
    pub shutdown: ShutdownTimings,
    pub request_timeout: Duration,
    pub auth: AuthConfig,
    /// `None`: one per available CPU.
    pub worker_threads: Option<usize>,
    pub nats: NatsConfig,
    /// Connections and requests in progress the server allows.
    pub limits: ServeLimits,
    pub trace: TraceConfig,
}

/// Where keys come from, what tokens must say, and this service's own credentials.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub identity_url: String,
    pub settings: AuthSettings,
    pub client_secret: Option<Secret<String>>,
}

/// How shutdown is paced.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownTimings {
    pub delay: Duration,
    pub timeout: Duration,
}

impl CommonArgs {
    /// Parses every flag, recording each problem in `problems`. Returns `None` if any flag is
    /// invalid; the caller adds its own checks to the same `problems` before failing.
    pub fn validate(&self, defaults: ServiceDefaults, problems: &mut Problems) -> Option<CommonConfig> {
        let grpc_addr =
            problems.check("GRPC_ADDR (--grpc-addr)", parse_addr(self.grpc_addr.as_deref(), defaults.grpc_port));
        let admin_addr =
            problems.check("ADMIN_ADDR (--admin-addr)", parse_addr(self.admin_addr.as_deref(), defaults.admin_port));
        let log_format = problems.check("LOG_FORMAT (--log-format)", self.log_format.parse());
        let log_filter = problems.check(
            "LOG_LEVEL (--log-level)",
            crate::telemetry::check_filter(&self.log_level).map(|()| self.log_level.clone()),
        );
        let delay = problems.check("SHUTDOWN_DELAY (--shutdown-delay)", parse_duration(&self.shutdown_delay));
        let timeout = problems.check("SHUTDOWN_TIMEOUT (--shutdown-timeout)", parse_duration(&self.shutdown_timeout));
        if let (Some(delay), Some(timeout)) = (delay, timeout)
            && delay > timeout
        {
            problems.push(
                "SHUTDOWN_DELAY (--shutdown-delay)",
                format!("{delay:?} is longer than SHUTDOWN_TIMEOUT ({timeout:?})"),
            );
        }

        let request_timeout =
            problems.check("REQUEST_TIMEOUT (--request-timeout)", parse_duration(&self.request_timeout));
        let identity_url = problems.check("IDENTITY_URL (--identity-url)", check_upstream_url(&self.identity_url));
        for (setting, value) in [
            ("JWT_ISSUER (--jwt-issuer)", &self.jwt_issuer),
            ("JWT_AUDIENCE (--jwt-audience)", &self.jwt_audience),
            ("JWT_SERVICE_AUDIENCE (--jwt-service-audience)", &self.jwt_service_audience),
        ] {
            if value.trim().is_empty() {
                problems.push(setting, "must not be empty");
            }
        }
        if self.jwt_audience == self.jwt_service_audience {
            problems.push(
                "JWT_SERVICE_AUDIENCE (--jwt-service-audience)",
                "must differ from JWT_AUDIENCE, or user tokens would pass as service tokens",
            );
        }
        if let Some(secret) = &self.service_client_secret
            && secret.len() < 16
        {
            problems.push("SERVICE_CLIENT_SECRET (--service-client-secret)", "must be at least 16 characters");
        }

        let worker_threads = match &self.worker_threads {
            None => Some(None),
            Some(raw) => problems
                .check("WORKER_THREADS (--worker-threads)", parse_count(raw, 1, 1024))
                .and_then(|n| usize::try_from(n).ok())
                .map(Some),
        };

        let nats = self.nats.validate(problems);
        let limits = self.serve.validate(problems);
        let trace = self.trace.validate(problems);

        let (
            Some(grpc_addr),
            Some(admin_addr),
            Some(format),
            Some(filter),
            Some(delay),
            Some(timeout),
            Some(identity_url),
            Some(request_timeout),
            Some(worker_threads),
            Some(nats),
            Some(limits),
            Some(trace),
        ) = (
            grpc_addr,
            admin_addr,
            log_format,
            log_filter,
            delay,
            timeout,
            identity_url,
            request_timeout,
            worker_threads,
            nats,
            limits,
            trace,
        )
        else {
            return None;
        };
        Some(CommonConfig {
            service: defaults.name,
            version: defaults.version,
            grpc_addr,
            admin_addr,
            log: LogConfig { format, filter, to_stderr: false },
            shutdown: ShutdownTimings { delay, timeout },
            request_timeout,
            auth: AuthConfig {
                identity_url,
                settings: AuthSettings {
                    issuer: self.jwt_issuer.clone(),
                    audience: self.jwt_audience.clone(),
                    service_audience: self.jwt_service_audience.clone(),
                },
                client_secret: self.service_client_secret.clone().map(Secret::new),
            },
            worker_threads,
            nats,
            limits,
            trace,
        })
    }
}

/// Every configuration problem found in one pass.
#[derive(Debug, Default)]
pub struct Problems(Vec<(String, String)>);

impl Problems {
    pub fn push(&mut self, setting: impl Into<String>, problem: impl Into<String>) {
        self.0.push((setting.into(), problem.into()));
    }

    /// Records the error of `result`, if any, against `setting`.
    pub fn check<T, E: fmt::Display>(&mut self, setting: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.push(setting, e.to_string())).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `Ok(value)` when nothing was recorded and the value was built, else every problem.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ConfigError> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(ConfigError(self.0)),
        }
    }
}

/// Invalid configuration: one line per problem, naming the setting.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError(pub Vec<(String, String)>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration ({} problem(s)):", self.0.len())?;
        for (setting, problem) in &self.0 {
            write!(f, "\n  - {setting}: {problem}")?;
        }
        Ok(())
    }
}

/// Parses `host:port`; `None` gives `127.0.0.1:<default_port>`.
pub fn parse_addr(raw: Option<&str>, default_port: u16) -> Result<SocketAddr, String> {
    let Some(raw) = raw else {
        return Ok(SocketAddr::from(([127, 0, 0, 1], default_port)));
    };
    let (host, port) = raw.rsplit_once(':').ok_or_else(|| format!("{raw:?} is not host:port"))?;
    let port: u32 = port.parse().map_err(|_| format!("port {port:?} in {raw:?} is not a number"))?;
    let port = u16::try_from(port).map_err(|_| format!("port {port} in {raw:?} is out of range (0-65535)"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
        _ => host.parse().map_err(|_| format!("host {host:?} in {raw:?} is not an IP address (or localhost)"))?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// Checks an origin-like URL, `http://host[:port]` or `https://host[:port]` (a browser
/// origin, a public link): scheme, host and port range, and nothing after the authority.
pub fn check_http_url(raw: &str) -> Result<String, String> {
    let rest = raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"))
        .ok_or_else(|| format!("{raw:?} must start with http:// or https://"))?;
    check_authority(raw, rest)?;
    Ok(raw.trim_end_matches('/').to_string())
}

/// Checks the URL of a gRPC service this process calls: `http://host:port`. Calls between
/// services are plaintext HTTP/2 (TLS, where wanted, is the mesh's or the ingress's job), so
/// `https://` is refused here rather than failing at the first call.
pub fn check_upstream_url(raw: &str) -> Result<String, String> {
    if raw.starts_with("https://") {
        return Err(format!(
            "{raw:?}: https is not supported for calls between services (plaintext HTTP/2); use http://"
        ));
    }
    let rest = raw.strip_prefix("http://").ok_or_else(|| format!("{raw:?} must start with http://"))?;
    let (_, port) = check_authority(raw, rest)?;
    if port.is_none() {
        return Err(format!("{raw:?} has no port: use http://host:port"));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// `rest` is `raw` after its scheme: a host (a DNS name, an IPv4 address or a bracketed IPv6
/// one), an optional port in 1-65535, and at most a trailing `/`.
fn check_authority<'a>(raw: &str, rest: &'a str) -> Result<(&'a str, Option<u16>), String> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(format!("{raw:?} must be scheme://host:port with no path, query or user"));
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (ip, after) = v6.split_once(']').ok_or_else(|| format!("{raw:?} has an unclosed [IPv6] host"))?;
            ip.parse::<std::net::Ipv6Addr>().map_err(|_| format!("{raw:?}: {ip:?} is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or_else(|| format!("{raw:?} is not a URL"))?),
            };
            (ip, port)
        }
        None => match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    let valid_name = |h: &str| {
        h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
    };
    if host.is_empty() {
        return Err(format!("{raw:?} has no host"));
    }
    if !rest.starts_with('[') && !valid_name(host) {
        return Err(format!("{raw:?}: {host:?} is not a host name or IP address"));
    }
    let port = match port {
        None => None,
        Some(port) => {
            let number: u32 = port.parse().map_err(|_| format!("{raw:?}: port {port:?} is not a number"))?;
            match u16::try_from(number) {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(format!("{raw:?}: port {number} is out of range (1-65535)")),
            }
        }
    };
    Ok((host, port))
}

/// Parses durations like `250ms`, `5s`, `2m`, `1h`, `30d`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let value: u64 = digits.parse().map_err(|_| format!("{raw:?} is not a duration like 500ms, 5s or 2m"))?;
    let millis = match unit {
        "ms" => Some(value),
        "s" => value.checked_mul(1_000),
        "m" => value.checked_mul(60_000),
        "h" => value.checked_mul(3_600_000),
        "d" => value.checked_mul(86_400_000),
        _ => return Err(format!("{raw:?} has no unit: use ms, s, m, h or d")),
    };
    millis.map(Duration::from_millis).ok_or_else(|| format!("{raw:?} is too long"))
}

/// A duration as [`parse_duration`] reads it, that must not be zero (a timeout, an interval).
pub fn parse_positive_duration(raw: &str) -> Result<Duration, String> {
    parse_duration(raw).and_then(|d| if d.is_zero() { Err("must be longer than 0s".into()) } else { Ok(d) })
}

/// Parses a whole number within `min..=max`.
pub fn parse_count(raw: &str, min: u32, max: u32) -> Result<u32, String> {
    let value = u32::from_str(raw.trim()).map_err(|_| format!("{raw:?} is not a whole number"))?;
    if (min..=max).contains(&value) { Ok(value) } else { Err(format!("{value} is outside {min}-{max}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_are_checked_for_scheme_host_and_port() {
        assert_eq!(check_upstream_url("http://catalog:50052/").as_deref(), Ok("http://catalog:50052"));
        assert!(check_upstream_url("http://127.0.0.1:50052").is_ok());
        assert!(check_upstream_url("http://[::1]:50052").is_ok());
        for (bad, says) in [
            ("https://catalog:50052", "https is not supported"),
            ("http://127.0.0.1:99999", "out of range"),
            ("http://127.0.0.1:0", "out of range"),
            ("http://:50052", "no host"),
            ("http://", "no host"),
            ("http://catalog", "no port"),
            ("http://catalog:x", "not a number"),
            ("http://cata log:1", "not a host name"),
            ("http://catalog:1/v1", "no path"),
            ("catalog:50052", "must start with http://"),
            ("http://[::1:50052", "unclosed"),
        ] {
            let error = check_upstream_url(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn origins_may_be_https_without_a_port_but_still_need_a_host() {
        assert_eq!(check_http_url("https://shop.example/").as_deref(), Ok("https://shop.example"));
        assert!(check_http_url("http://localhost:5173").is_ok());
        assert!(check_http_url("https://shop.example:70000").unwrap_err().contains("out of range"));
        assert!(check_http_url("https://").unwrap_err().contains("no host"));
        assert!(check_http_url("ftp://shop.example").is_err());
    }

    #[test]
    fn addresses_parse_with_clear_errors() {
        assert_eq!(parse_addr(None, 50052).ok(), "127.0.0.1:50052".parse().ok());
        assert_eq!(parse_addr(Some("0.0.0.0:0"), 1).ok(), "0.0.0.0:0".parse().ok());
        assert_eq!(parse_addr(Some("[::1]:80"), 1).ok(), "[::1]:80".parse().ok());
        assert!(parse_addr(Some("127.0.0.1:70000"), 1).unwrap_err().contains("out of range"));
        assert!(parse_addr(Some("nohost"), 1).unwrap_err().contains("host:port"));
    }

    #[test]
    fn durations_need_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn every_problem_is_reported() {
        let args = CommonArgs {
            grpc_addr: Some("127.0.0.1:70000".into()),
            admin_addr: None,
            log_format: "xml".into(),
            log_level: "info".into(),
            shutdown_delay: "0s".into(),
            shutdown_timeout: "20s".into(),
            request_timeout: "10s".into(),
            identity_url: "ftp://x".into(),
            jwt_issuer: "i".into(),
            jwt_audience: "a".into(),
            jwt_service_audience: "a".into(),
            service_client_secret: Some("short".into()),
            worker_threads: Some("0".into()),
            nats: NatsArgs {
                nats_url: "nats://127.0.0.1:99999".into(),
                nats_creds_file: None,
                nats_user: None,
                nats_password: None,
                nats_token: None,
            },
            serve: ServeArgs {
                max_in_flight: "0".into(),
                in_flight_limit: "sometimes".into(),
                header_read_timeout: "0s".into(),
                idle_timeout: "forever".into(),
                ..ServeArgs::default()
            },
            trace: TraceArgs { otel_traces_sampler: Some("sometimes".into()), ..TraceArgs::default() },
        };
        let defaults = ServiceDefaults { name: "t", version: "0", grpc_port: 1, admin_port: 2 };
        let mut problems = Problems::default();
        let config = args.validate(defaults, &mut problems);
        let db = crate::db::DatabaseArgs {
            database_url: Some("mysql//nope".into()),
            data_dir: "data".into(),
            db_max_connections: "0".into(),
            db_min_connections: "1".into(),
            db_acquire_timeout: "5s".into(),
            db_statement_timeout: "5s".into(),
        }
        .validate("t", &mut problems);
        let err = problems.finish(config.zip(db)).unwrap_err().to_string();
        for needle in [
            "GRPC_ADDR",
            "DATABASE_URL",
            "DB_MAX_CONNECTIONS",
            "LOG_FORMAT",
            "WORKER_THREADS",
            "NATS_URL",
            "MAX_IN_FLIGHT",
            "IN_FLIGHT_LIMIT",
            "HEADER_READ_TIMEOUT",
            "IDLE_TIMEOUT",
            "OTEL_TRACES_SAMPLER",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }
}
