//! catalog as the bench drives it: a binary, a database and a folder for its logs.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use tokio::process::Command;

use crate::{
    health,
    procs::{self, Proc},
};

/// How long catalog gets to report SERVING before the bench gives up.
const SERVING_DEADLINE: Duration = Duration::from_secs(30);

pub struct Catalog {
    bin: PathBuf,
    database_url: String,
    nats_url: String,
    logs: PathBuf,
}

/// The database URL may carry a password: never shown.
impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("bin", &self.bin)
            .field("database_url", &"[redacted]")
            .field("nats_url", &self.nats_url)
            .field("logs", &self.logs)
            .finish()
    }
}

/// A serving catalog and how long it took to get there.
#[derive(Debug)]
pub struct Started {
    pub proc: Proc,
    pub grpc_addr: SocketAddr,
    pub spawn_to_serving: Duration,
}

impl Catalog {
    /// `nats_url`: the bench's own nats-server, never the machine's.
    pub fn new(bin: &Path, database_url: &str, nats_url: &str, logs: &Path) -> Self {
        Self {
            bin: bin.to_path_buf(),
            database_url: database_url.to_string(),
            nats_url: nats_url.to_string(),
            logs: logs.to_path_buf(),
        }
    }

    /// The common flags; they go before any subcommand, where catalog's parser expects them.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg("--database-url").arg(&self.database_url).arg("--nats-url").arg(&self.nats_url);
        command.arg("--log-format").arg("json");
        command
    }

    /// `catalog migrate`: applies the migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let mut command = self.command();
        command.arg("migrate");
        procs::run_to_completion("catalog migrate", command).await
    }

    /// `catalog seed`: applies the migrations and loads the bundled catalog.
    pub async fn seed(&self) -> anyhow::Result<()> {
        let mut command = self.command();
        command.arg("seed");
        procs::run_to_completion("catalog seed", command).await
    }

    /// Starts the service on free ports and waits until its health check says SERVING.
    /// `label` names the log file.
    pub async fn start(&self, label: &str) -> anyhow::Result<Started> {
        let grpc_addr = SocketAddr::from(([127, 0, 0, 1], procs::free_port()?));
        let admin_addr = SocketAddr::from(([127, 0, 0, 1], procs::free_port()?));
        let mut command = self.command();
        command.arg("--grpc-addr").arg(grpc_addr.to_string()).arg("--admin-addr").arg(admin_addr.to_string());
        let log = self.logs.join(format!("catalog-{label}.log"));

        let spawned = Instant::now();
        let mut proc = Proc::spawn("catalog", command, Some(&log))?;
        health::wait_serving(grpc_addr, &mut proc, SERVING_DEADLINE).await?;
        Ok(Started { proc, grpc_addr, spawn_to_serving: spawned.elapsed() })
    }
}
