//! The gateway as the bench drives it: in front of one catalog, every other upstream pointed at
//! a port nobody listens on (public GETs of catalog need nothing else, not even identity).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use hyper::StatusCode;
use tokio::{process::Command, time::Instant};

use crate::{
    fetch, health,
    procs::{self, Proc},
};

/// How long the gateway gets to report SERVING before the bench gives up.
const SERVING_DEADLINE: Duration = Duration::from_secs(30);
/// How long the first REST call may keep failing (upstream channel still connecting) before
/// the bench gives up.
const FIRST_ANSWER_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct Gateway {
    pub bin: PathBuf,
    pub logs: PathBuf,
    /// `--rate-limit-per-minute`: high enough that the load test never meets it.
    pub rate_limit_per_minute: u32,
    /// `--worker-threads`; 0 leaves the gateway's default.
    pub worker_threads: u32,
    /// More flags, as they are.
    pub extra: Vec<String>,
}

/// A serving gateway.
#[derive(Debug)]
pub struct Started {
    pub proc: Proc,
    pub addr: SocketAddr,
    /// /metrics and the health endpoints.
    pub admin_addr: SocketAddr,
}

impl Gateway {
    /// Starts the gateway on free ports in front of the catalog at `catalog`, with logging at
    /// `warn` so its cost stays out of the figures, and waits until its health check says
    /// SERVING.
    pub async fn start(&self, catalog: SocketAddr) -> anyhow::Result<Started> {
        let addr = SocketAddr::from(([127, 0, 0, 1], procs::free_port()?));
        let admin_addr = SocketAddr::from(([127, 0, 0, 1], procs::free_port()?));
        let nowhere = format!("http://127.0.0.1:{}", procs::free_port()?);
        let mut command = Command::new(&self.bin);
        command
            .arg("--grpc-addr")
            .arg(addr.to_string())
            .arg("--admin-addr")
            .arg(admin_addr.to_string())
            .arg("--catalog-url")
            .arg(format!("http://{catalog}"))
            .arg("--rate-limit-per-minute")
            .arg(self.rate_limit_per_minute.to_string())
            .arg("--log-level")
            .arg("warn")
            .arg("--log-format")
            .arg("json");
        command.args(&self.extra);
        if self.worker_threads > 0 {
            command.arg("--worker-threads").arg(self.worker_threads.to_string());
        }
        for flag in ["--identity-url", "--orders-url", "--payments-url", "--shipping-url", "--notifications-url"] {
            command.arg(flag).arg(&nowhere);
        }
        let mut proc = Proc::spawn("gateway", command, Some(&self.logs.join("gateway.log")))?;
        health::wait_serving(addr, &mut proc, SERVING_DEADLINE).await?;
        Ok(Started { proc, addr, admin_addr })
    }
}

/// GETs `path` until it answers 200 with a body containing `expect`, and returns that body.
pub async fn first_answer(proc: &mut Proc, addr: SocketAddr, path: &str, expect: &str) -> anyhow::Result<Vec<u8>> {
    let until = Instant::now() + FIRST_ANSWER_DEADLINE;
    loop {
        if let Some(status) = proc.exited()? {
            anyhow::bail!("{} exited ({status}); its log ends:{}", proc.name(), proc.log_tail(20));
        }
        let last = match fetch::get(addr, path).await {
            Ok((StatusCode::OK, body)) if contains(&body, expect.as_bytes()) => return Ok(body.to_vec()),
            Ok((status, body)) => format!("{status}: {}", String::from_utf8_lossy(&body)),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= until {
            anyhow::bail!(
                "GET http://{addr}{path} on {} did not answer 200 with {expect:?} within {FIRST_ANSWER_DEADLINE:?}; \
                 last answer: {last}; its log ends:{}",
                proc.name(),
                proc.log_tail(20)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}
