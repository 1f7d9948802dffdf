//! Child processes: free ports, spawning with logs captured, SIGTERM-then-wait, and memory
//! read from `/proc`.

use std::{
    fs::File,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use anyhow::Context;
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// Grace for servers to exit after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(25);

/// A port nobody listens on right now: bind port 0, read it, let it go.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A running child. Dropping it kills the process (SIGKILL), so no error path leaves one
/// behind; [`Proc::stop`] is the polite way.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    log: Option<PathBuf>,
}

impl Proc {
    /// Spawns `command`; with `log`, its stdout and stderr go to that file.
    pub fn spawn(name: &str, mut command: Command, log: Option<&Path>) -> anyhow::Result<Self> {
        command.stdin(Stdio::null()).kill_on_drop(true);
        if let Some(path) = log {
            let file = File::create(path).with_context(|| format!("creating log file {}", path.display()))?;
            command.stderr(file.try_clone()?).stdout(file);
        }
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        Ok(Self { name: name.to_string(), child, log: log.map(Path::to_path_buf) })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().with_context(|| format!("{} has already exited", self.name))
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Resident memory now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        self.status_kib("VmRSS")
    }

    /// Highest resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        self.status_kib("VmHWM")
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid()?);
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {field} in {path}"))
    }

    /// Sends SIGTERM and waits up to `grace` for the process to exit; past that, SIGKILL.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.exited()? {
            return Ok(status);
        }
        let pid = Pid::from_raw(i32::try_from(self.pid()?)?);
        kill(pid, Signal::SIGTERM).with_context(|| format!("sending SIGTERM to {}", self.name))?;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                self.child.kill().await?;
                anyhow::bail!("{} did not exit within {grace:?} of SIGTERM", self.name)
            }
        }
    }

    /// The last `lines` lines of the log file, indented, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        match &self.log {
            Some(path) => tail(&std::fs::read_to_string(path).unwrap_or_default(), lines),
            None => String::new(),
        }
    }
}

/// Starts one of this crate's servers (`bin --addr 127.0.0.1:0`) and reads the address it bound
/// from its `listening <addr>` line.
pub async fn spawn_listening(name: &str, bin: &Path) -> anyhow::Result<(Proc, SocketAddr)> {
    let mut command = Command::new(bin);
    command.args(["--addr", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut proc = Proc::spawn(name, command, None)?;
    let stdout = proc.child_mut().stdout.take().with_context(|| format!("{name} has no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .with_context(|| format!("{name} did not print its address within 10s"))??
        .with_context(|| format!("{name} exited before printing its address"))?;
    let addr = line
        .strip_prefix("listening ")
        .and_then(|addr| addr.trim().parse().ok())
        .with_context(|| format!("{name} printed {line:?}, not `listening <addr>`"))?;
    // Keep draining so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((proc, addr))
}

/// Stops each process in turn (SIGTERM, then `STOP_GRACE`); anything but a clean exit becomes
/// a warning.
pub async fn stop_all(procs: impl IntoIterator<Item = Proc>, warnings: &mut Vec<String>) {
    for proc in procs {
        let name = proc.name().to_string();
        match proc.stop(STOP_GRACE).await {
            Ok(status) if status.success() => {}
            Ok(status) => warnings.push(format!("{name} exited {status} after SIGTERM")),
            Err(e) => warnings.push(format!("{e:#}")),
        }
    }
}

/// The 1, 5 and 15 minute load averages from `/proc/loadavg`, as printed there.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Runs `command` to completion; a non-zero exit is an error carrying its output.
pub async fn run_to_completion(what: &str, mut command: Command) -> anyhow::Result<()> {
    let output =
        command.stdin(Stdio::null()).kill_on_drop(true).output().await.with_context(|| format!("starting {what}"))?;
    if !output.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        anyhow::bail!("{what} failed ({}):{}", output.status, tail(&text, 20));
    }
    Ok(())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].iter().map(|line| format!("\n    {line}")).collect()
}
