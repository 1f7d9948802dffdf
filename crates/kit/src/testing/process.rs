//! Service binaries run as real processes, for what only a process shows: exit codes, signals,
//! what reaches stdout.

use std::time::Duration;

use super::patience;

/// A service binary running as a real process, with its JSON log lines captured.
#[derive(Debug)]
pub struct ServiceProcess {
    child: tokio::process::Child,
    pub grpc_addr: std::net::SocketAddr,
    pub admin_addr: std::net::SocketAddr,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Reads the rest of stdout; done once the process has exited and its last line is in.
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl ServiceProcess {
    /// Starts `bin` with `args` (add `--grpc-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0` for
    /// free ports) and waits, up to `deadline` (times the patience factor), for its `serving`
    /// log line, which names the ports it bound.
    pub async fn spawn(bin: &str, args: &[&str], deadline: Duration) -> anyhow::Result<Self> {
        let deadline = patience(deadline);
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
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                if let Ok(mut all) = sink.lock() {
                    all.push(line);
                }
            }
        });
        Ok(Self { child, grpc_addr, admin_addr, lines, reader: Some(reader) })
    }

    /// The highest resident memory the process has had (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().ok_or_else(|| anyhow::anyhow!("process already exited"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no VmHWM for {pid}"))
    }

    /// Every stdout line so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: a crash, with no chance to drain or flush.
    pub fn kill(&self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGKILL)
    }

    pub fn terminate(&self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGTERM)
    }

    /// SIGSTOP: a hang. The process keeps its sockets and answers nothing until [`Self::resume`].
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGSTOP)
    }

    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGCONT)
    }

    fn signal(&self, signal: nix::sys::signal::Signal) -> anyhow::Result<()> {
        let pid = self.child.id().ok_or_else(|| anyhow::anyhow!("process already exited"))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(pid)?), signal)?;
        Ok(())
    }

    /// Waits for the process to exit, up to `deadline` (times the patience factor), and for
    /// its last stdout lines to be read, so [`Self::log_lines`] has all of them.
    pub async fn wait(&mut self, deadline: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = patience(deadline);
        let status = tokio::time::timeout(deadline, self.child.wait())
            .await
            .map_err(|_| anyhow::anyhow!("the process did not exit within {deadline:?}"))??;
        if let Some(reader) = self.reader.take() {
            // EOF follows the exit at once, unless something the process started holds stdout.
            let _ = tokio::time::timeout(patience(Duration::from_secs(5)), reader).await;
        }
        Ok(status)
    }
}
