//! The smtp sink in real SMTP conversations, with a minimal server on 127.0.0.1:0 written here
//! (it records what it was told and can refuse recipients), and the flags that configure it.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine;
use mercato_kit::{Problems, Secret, testing::dead_url};
use mercato_notifications::{
    config::{NotificationsArgs, SinkChoice, SmtpSecurity, SmtpSettings},
    domain::{
        email,
        templates::{Contact, Rendered},
    },
    sink::{Outgoing, Sink, SinkError, smtp::SmtpSink},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// What one SMTP session carried, once its DATA was accepted.
#[derive(Debug, Clone, Default)]
struct Session {
    /// The decoded AUTH PLAIN credentials.
    auth: Option<(String, String)>,
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

/// How the fake server answers RCPT TO.
#[derive(Debug, Clone, Copy)]
enum Rcpt {
    Accept,
    Refuse(&'static str),
}

#[derive(Debug)]
struct FakeSmtp {
    url: String,
    sessions: Arc<Mutex<Vec<Session>>>,
    /// Every command's verb, from every client, in order.
    verbs: Arc<Mutex<Vec<String>>>,
}

impl FakeSmtp {
    async fn start(rcpt: Rcpt) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let sessions = Arc::<Mutex<Vec<Session>>>::default();
        let verbs = Arc::<Mutex<Vec<String>>>::default();
        let (recorded, heard) = (Arc::clone(&sessions), Arc::clone(&verbs));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(converse(stream, rcpt, Arc::clone(&recorded), Arc::clone(&heard)));
            }
        });
        Self { url, sessions, verbs }
    }

    fn verbs(&self) -> Vec<String> {
        self.verbs.lock().unwrap().clone()
    }

    fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }
}

/// One client, from the greeting to QUIT (or the client hanging up). A session is recorded
/// before DATA is answered, so once the sink returns, the test can read it without waiting.
async fn converse(
    stream: TcpStream,
    rcpt: Rcpt,
    sessions: Arc<Mutex<Vec<Session>>>,
    verbs: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut session = Session::default();
    write.write_all(b"220 fake.smtp.test ESMTP\r\n").await?;
    loop {
        let Some(command) = line(&mut read).await? else { return Ok(()) };
        let verb = command.split(' ').next().unwrap_or_default().to_ascii_uppercase();
        verbs.lock().unwrap().push(verb.clone());
        let reply = match verb.as_str() {
            "EHLO" => "250-fake.smtp.test\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN".to_string(),
            "AUTH" => {
                let mut words = command.split(' ').skip(1);
                if words.next().map(str::to_ascii_uppercase).as_deref() != Some("PLAIN") {
                    "504 5.5.4 only PLAIN here".to_string()
                } else {
                    let encoded = match words.next() {
                        Some(initial) => initial.to_string(),
                        None => {
                            write.write_all(b"334 \r\n").await?;
                            line(&mut read).await?.unwrap_or_default()
                        }
                    };
                    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
                    let decoded = String::from_utf8(decoded).unwrap();
                    let mut parts = decoded.split('\0').skip(1);
                    let user = parts.next().unwrap_or_default().to_string();
                    let password = parts.next().unwrap_or_default().to_string();
                    session.auth = Some((user, password));
                    "235 2.7.0 authenticated".to_string()
                }
            }
            "MAIL" => {
                session.mail_from = address(&command);
                "250 2.1.0 OK".to_string()
            }
            "RCPT" => match rcpt {
                Rcpt::Accept => {
                    session.rcpt_to.push(address(&command));
                    "250 2.1.5 OK".to_string()
                }
                Rcpt::Refuse(reply) => reply.to_string(),
            },
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    let mut raw = String::new();
                    if read.read_line(&mut raw).await? == 0 {
                        return Ok(());
                    }
                    if raw == ".\r\n" {
                        break;
                    }
                    // Undoes the client's dot-stuffing (RFC 5321 section 4.5.2).
                    data.push_str(raw.strip_prefix('.').unwrap_or(&raw));
                }
                session.data = data;
                sessions.lock().unwrap().push(std::mem::take(&mut session));
                "250 2.0.0 queued".to_string()
            }
            "RSET" | "NOOP" => "250 2.0.0 OK".to_string(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "500 5.5.1 unrecognised".to_string(),
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// The next command line without its CRLF; `None` once the client hung up.
async fn line(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<Option<String>> {
    let mut raw = String::new();
    Ok(match read.read_line(&mut raw).await? {
        0 => None,
        _ => Some(raw.trim_end_matches(['\r', '\n']).to_string()),
    })
}

/// The address in `MAIL FROM:<a@b> …` or `RCPT TO:<a@b>`.
fn address(command: &str) -> String {
    command.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map(|(a, _)| a.to_string()).unwrap_or_default()
}

/// The flags as the environment would give them, choosing the smtp sink.
fn args(url: Option<&str>) -> NotificationsArgs {
    NotificationsArgs {
        notification_sink: "smtp".into(),
        mail_dir: String::new(),
        mail_from: "mercato <shop@mercato.test>".into(),
        smtp_url: url.map(str::to_string),
        smtp_username: None,
        smtp_password: None,
        smtp_timeout: "5s".into(),
    }
}

fn validated(args: &NotificationsArgs) -> Result<SmtpSettings, Vec<(String, String)>> {
    let mut problems = Problems::default();
    let settings = args.validate(&mut problems);
    match problems.finish(settings).map_err(|e| e.0)?.sink {
        SinkChoice::Smtp(settings) => Ok(settings),
        other => panic!("the smtp sink was chosen, not {other:?}"),
    }
}

fn sink(args: &NotificationsArgs) -> SmtpSink {
    SmtpSink::new(&validated(args).unwrap()).unwrap()
}

const ID: &str = "01a2386d-b691-728a-a32e-fa444a1c9b49";

/// A message built as the consumers build theirs.
fn outgoing() -> Outgoing {
    let to = Contact { email: "ada@example.com".into(), display_name: "Ada Lovelace".into() };
    let rendered = Rendered {
        subject: "Your order is confirmed".into(),
        text: "Order 42 is confirmed.".into(),
        html: "<p>Order 42 is confirmed.</p>".into(),
    };
    Outgoing { id: ID.into(), message: email::build("mercato <shop@mercato.test>", &to, &rendered, ID).unwrap() }
}

#[tokio::test]
async fn a_message_reaches_the_server_with_its_envelope_subject_body_and_message_id() {
    let server = FakeSmtp::start(Rcpt::Accept).await;
    sink(&args(Some(&server.url))).deliver(&outgoing()).await.unwrap();

    let sessions = server.sessions();
    let [session] = sessions.as_slice() else { panic!("one session expected: {sessions:?}") };
    assert_eq!(session.mail_from, "shop@mercato.test");
    assert_eq!(session.rcpt_to, ["ada@example.com"]);
    assert_eq!(session.auth, None);
    for needle in [
        "Subject: Your order is confirmed\r\n",
        &format!("Message-ID: <{ID}@mercato.test>\r\n"),
        "Order 42 is confirmed.",
        "<p>Order 42 is confirmed.</p>",
    ] {
        assert!(session.data.contains(needle), "{needle:?} missing from {}", session.data);
    }
}

#[tokio::test]
async fn with_a_username_and_password_the_server_is_authenticated_to_with_them() {
    let server = FakeSmtp::start(Rcpt::Accept).await;
    let args = NotificationsArgs {
        smtp_username: Some("mercato".into()),
        smtp_password: Some(Secret::new("s3cret pass".into())),
        ..args(Some(&server.url))
    };
    sink(&args).deliver(&outgoing()).await.unwrap();

    let sessions = server.sessions();
    let [session] = sessions.as_slice() else { panic!("one session expected: {sessions:?}") };
    assert_eq!(session.auth, Some(("mercato".to_string(), "s3cret pass".to_string())));
    assert_eq!(session.rcpt_to, ["ada@example.com"]);
}

async fn refused_with(reply: &'static str) -> (String, SinkError, Vec<Session>) {
    let server = FakeSmtp::start(Rcpt::Refuse(reply)).await;
    let error = sink(&args(Some(&server.url))).deliver(&outgoing()).await.unwrap_err();
    (server.url.clone(), error, server.sessions())
}

#[tokio::test]
async fn a_permanent_refusal_is_a_sink_error_naming_the_server_and_its_reply() {
    let (url, error, sessions) = refused_with("550 5.1.1 <ada@example.com>: no such user").await;
    assert!(error.0.contains(&url) && error.0.contains("550") && error.0.contains("no such user"), "{error}");
    assert!(sessions.is_empty(), "{sessions:?}");
}

#[tokio::test]
async fn a_transient_refusal_is_a_sink_error_naming_the_server_and_its_reply() {
    let (url, error, sessions) = refused_with("451 4.3.0 mailbox busy, try later").await;
    assert!(error.0.contains(&url) && error.0.contains("451") && error.0.contains("try later"), "{error}");
    assert!(sessions.is_empty(), "{sessions:?}");
}

#[tokio::test]
async fn a_server_without_starttls_is_refused_before_credentials_or_mail_are_sent() {
    let server = FakeSmtp::start(Rcpt::Accept).await;
    let url = server.url.replace("smtp://", "smtp+starttls://");
    let args = NotificationsArgs {
        smtp_username: Some("mercato".into()),
        smtp_password: Some(Secret::new("hunter2".into())),
        ..args(Some(&url))
    };
    let error = sink(&args).deliver(&outgoing()).await.unwrap_err();
    assert!(error.0.contains(&url), "{error}");
    let verbs = server.verbs();
    assert!(verbs.contains(&"EHLO".to_string()), "{verbs:?}");
    assert!(!verbs.iter().any(|v| ["AUTH", "MAIL", "RCPT", "DATA"].contains(&v.as_str())), "{verbs:?}");
}

#[tokio::test]
async fn a_server_that_is_not_listening_is_a_sink_error_not_a_hang() {
    // A port held bound without listening: connecting is refused at once.
    let url = dead_url("smtp");
    let delivered = tokio::time::timeout(Duration::from_secs(10), sink(&args(Some(&url))).deliver(&outgoing()))
        .await
        .expect("the sink gives up within its timeout");
    let error = delivered.unwrap_err();
    assert!(error.0.contains(&url), "{error}");
}

#[tokio::test]
async fn a_server_that_never_answers_is_given_up_on_after_the_timeout() {
    // Connections complete in the listener's backlog, but nothing ever greets them.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", silent.local_addr().unwrap());
    let args = NotificationsArgs { smtp_timeout: "200ms".into(), ..args(Some(&url)) };
    let delivered = tokio::time::timeout(Duration::from_secs(10), sink(&args).deliver(&outgoing()))
        .await
        .expect("the sink gives up within its timeout");
    let error = delivered.unwrap_err();
    assert!(error.0.contains(&url) && error.0.contains("no answer within"), "{error}");
}

#[test]
fn each_scheme_chooses_its_security_and_default_port() {
    for (url, security, port) in [
        ("smtp://relay.local", SmtpSecurity::Plain, 25),
        ("smtp://127.0.0.1:1025", SmtpSecurity::Plain, 1025),
        ("smtp+starttls://mail.example", SmtpSecurity::StartTls, 587),
        ("smtps://mail.example:2465/", SmtpSecurity::Tls, 2465),
    ] {
        let settings = validated(&args(Some(url))).unwrap();
        assert_eq!((settings.security, settings.port), (security, port), "{url}");
        assert_eq!(settings.credentials, None);
        assert_eq!(settings.timeout, Duration::from_secs(5));
    }
    let v6 = validated(&args(Some("smtp://[::1]:1025"))).unwrap();
    assert_eq!((v6.host.as_str(), v6.to_string()), ("::1", "smtp://[::1]:1025".to_string()));
}

#[test]
fn tls_sinks_are_built_with_rustls_before_any_connection() {
    for url in ["smtp+starttls://mail.example:587", "smtps://mail.example", "smtps://127.0.0.1:2465"] {
        let settings = validated(&args(Some(url))).unwrap();
        SmtpSink::new(&settings).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

/// The one problem `args` gives, as (setting, problem).
fn problem(args: &NotificationsArgs) -> (String, String) {
    let problems = validated(args).unwrap_err();
    let [one] = problems.as_slice() else { panic!("one problem expected: {problems:?}") };
    one.clone()
}

#[test]
fn each_bad_smtp_setting_is_its_own_problem() {
    let credentials = |user: Option<&str>, password: Option<&str>| NotificationsArgs {
        smtp_username: user.map(str::to_string),
        smtp_password: password.map(|p| Secret::new(p.to_string())),
        ..args(Some("smtp://relay.local"))
    };
    for (args, setting, says) in [
        (args(None), "SMTP_URL", "needs SMTP_URL"),
        (args(Some("")), "SMTP_URL", "needs SMTP_URL"),
        (args(Some("http://mail.example:25")), "SMTP_URL", "scheme \"http\""),
        (args(Some("smtp+tls://mail.example")), "SMTP_URL", "scheme"),
        (args(Some("mail.example:25")), "SMTP_URL", "scheme"),
        (args(Some("smtp://:25")), "SMTP_URL", "no host"),
        (args(Some("smtps://")), "SMTP_URL", "no host"),
        (args(Some("smtp://relay.local:0")), "SMTP_URL", "out of range"),
        (args(Some("smtp://relay.local:70000")), "SMTP_URL", "not a URL"),
        (args(Some("smtp://relay.local/submit")), "SMTP_URL", "no path"),
        (credentials(Some("mercato"), None), "SMTP_PASSWORD", "needs a password"),
        (credentials(Some("mercato"), Some("")), "SMTP_PASSWORD", "needs a password"),
        (credentials(None, Some("hunter2")), "SMTP_USERNAME", "needs a user name"),
        (NotificationsArgs { smtp_timeout: "0s".into(), ..args(Some("smtp://relay.local")) }, "SMTP_TIMEOUT", "0s"),
        (NotificationsArgs { smtp_timeout: "10".into(), ..args(Some("smtp://relay.local")) }, "SMTP_TIMEOUT", "unit"),
    ] {
        let (got_setting, got) = problem(&args);
        assert!(got_setting.starts_with(setting) && got.contains(says), "{args:?}: {got_setting}: {got}");
    }
}

#[test]
fn every_smtp_problem_is_listed_at_once() {
    let args = NotificationsArgs {
        smtp_username: Some("mercato".into()),
        smtp_timeout: "soon".into(),
        mail_from: "not an address".into(),
        ..args(Some("ftp://mail.example"))
    };
    let settings: Vec<String> = validated(&args).unwrap_err().into_iter().map(|(setting, _)| setting).collect();
    for needle in ["SMTP_URL", "SMTP_PASSWORD", "SMTP_TIMEOUT", "MAIL_FROM"] {
        assert!(settings.iter().any(|s| s.starts_with(needle)), "{needle} missing from {settings:?}");
    }
}

#[test]
fn the_password_is_never_printed_not_even_from_a_url_that_should_not_hold_it() {
    let args = NotificationsArgs {
        smtp_username: Some("mercato".into()),
        smtp_password: Some(Secret::new("hunter2".into())),
        ..args(Some("smtp://relay.local"))
    };
    let settings = validated(&args).unwrap();
    let printed = format!("{args:?} {settings:?} {settings} {:?}", SmtpSink::new(&settings).unwrap());
    assert!(!printed.contains("hunter2"), "{printed}");

    let (setting, problem) = problem(&self::args(Some("smtp://mercato:hunter2@relay.local")));
    assert!(setting.starts_with("SMTP_URL") && problem.contains("must not hold credentials"), "{problem}");
    assert!(!problem.contains("hunter2"), "{problem}");
}

#[test]
fn other_sinks_ignore_the_smtp_flags() {
    let args = NotificationsArgs {
        notification_sink: "log".into(),
        smtp_username: Some("mercato".into()),
        smtp_timeout: "soon".into(),
        ..args(Some("ftp://nowhere"))
    };
    let mut problems = Problems::default();
    let settings = args.validate(&mut problems);
    assert_eq!(problems.finish(settings).unwrap().sink, SinkChoice::Log);
}
