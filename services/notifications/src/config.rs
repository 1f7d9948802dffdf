//! notifications' own flags, on top of the kit's (see `mercato_kit::service`).

use std::{fmt, path::PathBuf, time::Duration};

use clap::Args;
use mercato_kit::{
    Secret,
    config::{Problems, parse_positive_duration},
};

/// Flags only notifications has.
#[derive(Debug, Clone, Args)]
pub struct NotificationsArgs {
    /// Where messages go: `log` (a line per message, nothing sent), `file` (one .eml per
    /// message in MAIL_DIR, for tests and demos) or `smtp` (sent to SMTP_URL).
    #[arg(long, env = "NOTIFICATION_SINK", default_value = "log")]
    pub notification_sink: String,

    /// The folder of the `file` sink.
    #[arg(long, env = "MAIL_DIR", default_value = "")]
    pub mail_dir: String,

    /// The sender of every e-mail (`name <address>` or an address).
    #[arg(long, env = "MAIL_FROM", default_value = "mercato <shop@mercato.invalid>")]
    pub mail_from: String,

    /// The `smtp` sink's server: `smtp://host[:port]` (no TLS, for a local relay; port 25),
    /// `smtp+starttls://host[:port]` (STARTTLS required; 587) or `smtps://host[:port]`
    /// (implicit TLS; 465). Credentials go in SMTP_USERNAME and SMTP_PASSWORD, not here.
    #[arg(long, env = "SMTP_URL")]
    pub smtp_url: Option<String>,

    /// The user the `smtp` sink authenticates as (with SMTP_PASSWORD).
    #[arg(long, env = "SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    /// The password for SMTP_USERNAME. Over `smtp://` it crosses the network in the clear.
    #[arg(long, env = "SMTP_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub smtp_password: Option<Secret<String>>,

    /// Longest one message's delivery may take, from connecting to the server's last reply.
    #[arg(long, env = "SMTP_TIMEOUT", default_value = "10s")]
    pub smtp_timeout: String,
}

/// Wraps the password as clap reads it, so that not even these raw flags can print it.
fn secret(raw: &str) -> Result<Secret<String>, std::convert::Infallible> {
    Ok(Secret::new(raw.to_string()))
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkChoice {
    Log,
    File(PathBuf),
    Smtp(SmtpSettings),
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS at all: only for a relay on the same host or network.
    Plain,
    /// A plain connection upgraded with STARTTLS; refused if the server does not offer it.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// The `smtp` sink's validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub security: SmtpSecurity,
    /// A DNS name or an IP address, without brackets.
    pub host: String,
    pub port: u16,
    pub credentials: Option<SmtpCredentials>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: Secret<String>,
}

/// The server as a URL, for log lines and errors: it never holds credentials.
impl fmt::Display for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.security {
            SmtpSecurity::Plain => "smtp",
            SmtpSecurity::StartTls => "smtp+starttls",
            SmtpSecurity::Tls => "smtps",
        };
        match self.host.contains(':') {
            true => write!(f, "{scheme}://[{}]:{}", self.host, self.port),
            false => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

/// notifications' validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sink: SinkChoice,
    pub from: String,
}

impl NotificationsArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<Settings> {
        let sink = match (self.notification_sink.as_str(), self.mail_dir.is_empty()) {
            ("log", _) => Some(SinkChoice::Log),
            ("file", false) => Some(SinkChoice::File(PathBuf::from(&self.mail_dir))),
            ("file", true) => {
                problems.push(SINK, "`file` needs MAIL_DIR (--mail-dir)");
                None
            }
            ("smtp", _) => self.smtp(problems).map(SinkChoice::Smtp),
            (other, _) => {
                problems.push(SINK, format!("{other:?}: the sinks are `log`, `file` and `smtp`"));
                None
            }
        };
        let from = problems.check(
            "MAIL_FROM (--mail-from)",
            self.mail_from
                .parse::<lettre::message::Mailbox>()
                .map(|_| self.mail_from.clone())
                .map_err(|e| format!("{:?} is not a sender address: {e}", self.mail_from)),
        );
        Some(Settings { sink: sink?, from: from? })
    }

    /// The `smtp` sink's flags, each problem recorded on its own. Read only when that sink is
    /// chosen, so a stray SMTP_* variable cannot stop a service that logs its mail.
    fn smtp(&self, problems: &mut Problems) -> Option<SmtpSettings> {
        let server = match self.smtp_url.as_deref().filter(|url| !url.trim().is_empty()) {
            None => {
                problems.push(SMTP_URL, "the `smtp` sink needs SMTP_URL, e.g. smtp+starttls://mail.example:587");
                None
            }
            Some(raw) => problems.check(SMTP_URL, parse_smtp_url(raw)),
        };
        let username = self.smtp_username.as_deref().filter(|u| !u.is_empty());
        let password = self.smtp_password.as_ref().filter(|p| !p.expose().is_empty());
        let credentials = match (username, password) {
            (None, None) => Some(None),
            (Some(username), Some(password)) => {
                Some(Some(SmtpCredentials { username: username.to_string(), password: password.clone() }))
            }
            (Some(_), None) => {
                problems.push("SMTP_PASSWORD (--smtp-password)", "SMTP_USERNAME is set: it needs a password too");
                None
            }
            (None, Some(_)) => {
                problems.push("SMTP_USERNAME (--smtp-username)", "SMTP_PASSWORD is set: it needs a user name too");
                None
            }
        };
        let timeout = problems.check("SMTP_TIMEOUT (--smtp-timeout)", parse_positive_duration(&self.smtp_timeout));
        let (security, host, port) = server?;
        Some(SmtpSettings { security, host, port, credentials: credentials?, timeout: timeout? })
    }
}

const SINK: &str = "NOTIFICATION_SINK (--notification-sink)";
const SMTP_URL: &str = "SMTP_URL (--smtp-url)";

/// `scheme://host[:port]`, with nothing after the authority: a path or query would be
/// ignored, and credentials here would end up in every line that names the server.
fn parse_smtp_url(raw: &str) -> Result<(SmtpSecurity, String, u16), String> {
    use lettre::transport::smtp::{SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT};

    // Problems are printed at startup: a password pasted into the URL must not be.
    let shown = redact(raw);
    let url = match url::Url::parse(raw) {
        Ok(url) => url,
        Err(url::ParseError::EmptyHost) => return Err(format!("{shown:?} has no host")),
        Err(e) => return Err(format!("{shown:?} is not a URL like smtp://host:port: {e}")),
    };
    let (security, default_port) = match url.scheme() {
        "smtp" => (SmtpSecurity::Plain, SMTP_PORT),
        "smtp+starttls" => (SmtpSecurity::StartTls, SUBMISSION_PORT),
        "smtps" => (SmtpSecurity::Tls, SUBMISSIONS_PORT),
        other => return Err(format!("scheme {other:?}: use smtp://, smtp+starttls:// or smtps://")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{shown:?} must not hold credentials: use SMTP_USERNAME and SMTP_PASSWORD"));
    }
    let host = url.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']')).unwrap_or_default();
    if host.is_empty() {
        return Err(format!("{shown:?} has no host"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{shown:?} must be scheme://host:port with no path or query"));
    }
    match url.port() {
        Some(0) => Err(format!("{shown:?}: port 0 is out of range (1-65535)")),
        port => Ok((security, host.to_string(), port.unwrap_or(default_port))),
    }
}

/// `raw` with anything before an `@` in its authority hidden.
fn redact(raw: &str) -> String {
    match (raw.split_once("://"), raw.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, authority))) => format!("{scheme}://[credentials]@{authority}"),
        _ => raw.to_string(),
    }
}
