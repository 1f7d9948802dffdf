//! Where NATS is and how to authenticate to it, as flags every binary accepts and validates
//! with the rest of its configuration (`just dev` exports `NATS_URL` to all of them). The
//! connection itself belongs to the events layer.

use std::path::PathBuf;

use crate::{config::Problems, secret::Secret};

/// The port NATS clients use when a URL names none.
pub const DEFAULT_PORT: u16 = 4222;

/// NATS flags. Raw strings, checked in [`NatsArgs::validate`].
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// NATS server URLs, comma-separated (several seed a cluster): nats://host:port or
    /// tls://host:port; credentials may be given as nats://user:password@host:port.
    #[arg(long, global = true, env = "NATS_URL", default_value = "nats://127.0.0.1:4222", hide_env_values = true)]
    pub nats_url: String,

    /// A NATS credentials file (a user JWT and its NKey seed, as `nsc` writes them).
    #[arg(long, global = true, env = "NATS_CREDS_FILE")]
    pub nats_creds_file: Option<PathBuf>,

    /// NATS user name (with NATS_PASSWORD).
    #[arg(long, global = true, env = "NATS_USER")]
    pub nats_user: Option<String>,

    /// NATS password (with NATS_USER).
    #[arg(long, global = true, env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,

    /// NATS authentication token.
    #[arg(long, global = true, env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
}

/// Validated NATS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// `scheme://host:port` of each server, credentials removed.
    pub servers: Vec<String>,
    pub auth: NatsAuth,
}

/// One way of authenticating, at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsAuth {
    None,
    CredsFile(PathBuf),
    UserPassword { user: String, password: Secret<String> },
    Token(Secret<String>),
}

const URL_SETTING: &str = "NATS_URL (--nats-url)";

impl NatsArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<NatsConfig> {
        let mut servers = Vec::new();
        let mut from_url: Option<(String, String)> = None;
        let mut ok = true;
        let entries: Vec<&str> = self.nats_url.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
        if entries.is_empty() {
            problems.push(URL_SETTING, "must name at least one server");
            ok = false;
        }
        for entry in entries {
            match parse_server(entry) {
                Ok((server, credentials)) => {
                    servers.push(server);
                    if let Some(credentials) = credentials {
                        if from_url.as_ref().is_some_and(|seen| *seen != credentials) {
                            problems.push(URL_SETTING, "servers carry different credentials");
                            ok = false;
                        }
                        from_url = Some(credentials);
                    }
                }
                Err(problem) => {
                    problems.push(URL_SETTING, problem);
                    ok = false;
                }
            }
        }

        let mut methods = Vec::new();
        if let Some(path) = &self.nats_creds_file {
            if !path.is_file() {
                problems
                    .push("NATS_CREDS_FILE (--nats-creds-file)", format!("{} is not a readable file", path.display()));
                ok = false;
            }
            methods.push(NatsAuth::CredsFile(path.clone()));
        }
        match (&self.nats_user, &self.nats_password) {
            (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
                methods.push(NatsAuth::UserPassword { user: user.clone(), password: Secret::new(password.clone()) })
            }
            (None, None) => {}
            _ => {
                problems.push("NATS_USER (--nats-user)", "NATS_USER and NATS_PASSWORD go together, both non-empty");
                ok = false;
            }
        }
        if let Some(token) = &self.nats_token {
            if token.is_empty() {
                problems.push("NATS_TOKEN (--nats-token)", "must not be empty");
                ok = false;
            }
            methods.push(NatsAuth::Token(Secret::new(token.clone())));
        }
        if let Some((user, password)) = from_url {
            methods.push(NatsAuth::UserPassword { user, password: Secret::new(password) });
        }
        if methods.len() > 1 {
            problems.push(
                "NATS_CREDS_FILE (--nats-creds-file)",
                "give one way to authenticate to NATS: a credentials file, a user and password (flags or URL), or a token",
            );
            ok = false;
        }
        ok.then(|| NatsConfig { servers, auth: methods.pop().unwrap_or(NatsAuth::None) })
    }
}

/// `nats://[user:password@]host[:port]` → (`nats://host:port`, credentials).
fn parse_server(raw: &str) -> Result<(String, Option<(String, String)>), String> {
    let (scheme, rest) = raw.split_once("://").ok_or_else(|| format!("{raw:?} is not a URL like nats://host:4222"))?;
    if !matches!(scheme, "nats" | "tls") {
        return Err(format!("{raw:?}: the scheme must be nats:// or tls://"));
    }
    let (credentials, authority) = match rest.rsplit_once('@') {
        Some((userinfo, authority)) => {
            let (user, password) = userinfo
                .split_once(':')
                .filter(|(user, password)| !user.is_empty() && !password.is_empty())
                .ok_or_else(|| format!("{}: credentials in the URL must be user:password", redact(raw)))?;
            (Some((user.to_string(), password.to_string())), authority)
        }
        None => (None, rest),
    };
    let authority = authority.trim_end_matches('/');
    if authority.contains('/') || authority.contains('?') {
        return Err(format!("{}: a NATS URL has no path or query", redact(raw)));
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal without a port ends in ']'.
        Some((host, port)) if !port.ends_with(']') => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{}: port {port:?} is not 1-65535", redact(raw)))?;
            (host, port)
        }
        _ => (authority, DEFAULT_PORT),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '@') {
        return Err(format!("{}: no host", redact(raw)));
    }
    Ok((format!("{scheme}://{host}:{port}"), credentials))
}

/// A URL as it may be printed: without its password.
fn redact(raw: &str) -> String {
    match (raw.split_once("://"), raw.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, authority))) => format!("{scheme}://[credentials]@{authority}"),
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> NatsArgs {
        NatsArgs { nats_url: url.into(), nats_creds_file: None, nats_user: None, nats_password: None, nats_token: None }
    }

    fn check(args: &NatsArgs) -> Result<NatsConfig, String> {
        let mut problems = Problems::default();
        let config = args.validate(&mut problems);
        problems.finish(config).map_err(|e| e.to_string())
    }

    #[test]
    fn urls_are_normalised_and_a_cluster_may_be_listed() {
        let config = check(&args("nats://127.0.0.1:4222, tls://nats.internal ,nats://[::1]:4223")).unwrap();
        assert_eq!(config.servers, ["nats://127.0.0.1:4222", "tls://nats.internal:4222", "nats://[::1]:4223"]);
        assert_eq!(config.auth, NatsAuth::None);
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (url, needle) in [
            ("http://127.0.0.1:4222", "scheme"),
            ("nats://127.0.0.1:99999", "1-65535"),
            ("nats://127.0.0.1:0", "1-65535"),
            ("nats://:4222", "no host"),
            ("127.0.0.1:4222", "not a URL"),
            ("", "at least one"),
            ("nats://host:4222/path", "no path"),
        ] {
            let err = check(&args(url)).unwrap_err();
            assert!(err.contains("NATS_URL") && err.contains(needle), "{url:?}: {err}");
        }
    }

    #[test]
    fn credentials_come_one_way_and_never_print() {
        let config = check(&args("nats://svc:s3cret@127.0.0.1:4222")).unwrap();
        assert_eq!(config.servers, ["nats://127.0.0.1:4222"]);
        assert!(matches!(&config.auth, NatsAuth::UserPassword { user, .. } if user == "svc"));
        assert!(!format!("{config:?}").contains("s3cret"));

        let mut both = args("nats://svc:s3cret@127.0.0.1:4222");
        both.nats_token = Some("t0ken".into());
        let err = check(&both).unwrap_err();
        assert!(err.contains("one way to authenticate") && !err.contains("s3cret"), "{err}");

        let mut half = args("nats://127.0.0.1:4222");
        half.nats_user = Some("svc".into());
        assert!(check(&half).unwrap_err().contains("NATS_USER"));

        let mut missing = args("nats://127.0.0.1:4222");
        missing.nats_creds_file = Some("/nonexistent/svc.creds".into());
        assert!(check(&missing).unwrap_err().contains("NATS_CREDS_FILE"));

        let err = check(&args("nats://svc@127.0.0.1:4222")).unwrap_err();
        assert!(err.contains("user:password"), "{err}");
    }
}
