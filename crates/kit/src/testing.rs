//! Helpers for integration tests (feature `testing`): fresh databases on real servers, and
//! polling with a deadline instead of sleeping.

use std::{future::Future, time::Duration};

use sea_orm::{ConnectionTrait, Database};

/// PostgreSQL server the tests create their databases on. Override with `MERCATO_TEST_PG_URL`.
pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Polls `probe` every 10 ms until it returns `Some`, or panics after `deadline` naming `what`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < until, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test: a SQLite file in a temporary folder, or a freshly
/// created PostgreSQL database that is dropped when this value is.
pub struct TestDatabase {
    url: String,
    backend: Backend,
    // Keeps the SQLite folder alive.
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

/// The command line every in-process test service starts from: `binary` on free loopback ports
/// over `database`. Callers append their service's own flags.
pub fn service_args<'a>(binary: &'a str, database: &'a TestDatabase) -> Vec<&'a str> {
    vec![binary, "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--database-url", database.url()]
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Ok(Self { url, backend, _dir: Some(dir), pg: None })
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = format!("mercato_test_{}", uuid::Uuid::new_v4().simple());
                let conn = Database::connect(&admin)
                    .await
                    .map_err(|e| anyhow::anyhow!("connecting to PostgreSQL at {admin} for a test database: {e}"))?;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
                conn.close().await?;
                let url = match admin.rsplit_once('/') {
                    Some((server, _)) => format!("{server}/{name}"),
                    None => anyhow::bail!("MERCATO_TEST_PG_URL has no database part"),
                };
                Ok(Self { url, backend, _dir: None, pg: Some((admin, name)) })
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Path of the SQLite file, for tests that lock it from outside.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self._dir.as_ref().map(|d| d.path().join("test.db"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        // Drop runs outside async code paths; a short-lived thread with its own runtime does it.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let conn = Database::connect(&admin).await.ok()?;
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()?;
                conn.close().await.ok()
            })
        })
        .join();
    }
}

fn pg_admin_url() -> String {
    std::env::var("MERCATO_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_string())
}

/// A plain HTTP/1.0 GET on loopback: status code and body. Enough for the admin endpoints,
/// without pulling an HTTP client into every test binary.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line in {head:?}"))?;
    Ok((status, body.to_string()))
}

/// A service binary running as a real process, with its JSON log lines captured.
pub struct ServiceProcess {
    child: tokio::process::Child,
    pub grpc_addr: std::net::SocketAddr,
    pub admin_addr: std::net::SocketAddr,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServiceProcess {
    /// Starts `bin` with `args` (add `--grpc-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0` for
    /// free ports) and waits, up to `deadline`, for its `serving` log line, which names the
    /// ports it bound.
    pub async fn spawn(bin: &str, args: &[&str], deadline: Duration) -> anyhow::Result<Self> {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(bin)
            .args(args)
            .env("LOG_FORMAT", "json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut reader = tokio::io::BufReader::new(stdout).lines();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let found = tokio::time::timeout(deadline, async {
            while let Some(line) = reader.next_line().await? {
                if let Ok(mut all) = lines.lock() {
                    all.push(line.clone());
                }
                let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if json["message"] == "serving" {
                    let grpc = json["grpc_addr"].as_str().unwrap_or_default().parse()?;
                    let admin = json["admin_addr"].as_str().unwrap_or_default().parse()?;
                    return Ok::<_, anyhow::Error>(Some((grpc, admin)));
                }
            }
            Ok(None)
        })
        .await;
        let (grpc_addr, admin_addr) = match found {
            Ok(Ok(Some(addrs))) => addrs,
            Ok(Ok(None)) => anyhow::bail!("{bin} exited before serving"),
            Ok(Err(e)) => return Err(e),
            Err(_) => anyhow::bail!("{bin} did not report serving within {deadline:?}"),
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                if let Ok(mut all) = sink.lock() {
                    all.push(line);
                }
            }
        });
        Ok(Self { child, grpc_addr, admin_addr, lines })
    }

    /// Every stdout line so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.child.id().ok_or_else(|| anyhow::anyhow!("process already exited"))?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid)?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        Ok(())
    }

    /// Waits for the process to exit, up to `deadline`.
    pub async fn wait(&mut self, deadline: Duration) -> anyhow::Result<std::process::ExitStatus> {
        Ok(tokio::time::timeout(deadline, self.child.wait()).await??)
    }
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
