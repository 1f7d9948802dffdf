//! A real catalog for tests (feature `testing`): in-process, on free ports, seeded, verifying
//! tokens with a given identity's keys. Catalog's own tests and the gateway's start it the same
//! way.

use std::{net::SocketAddr, time::Duration};

use mercato_kit::{
    Shutdown,
    service::{self, App},
    testing::{TestDatabase, service_args},
};
use tokio::task::JoinHandle;

use crate::Catalog;

/// How long a test catalog may take to drain and stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestCatalog {
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    shutdown: Shutdown,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _database: TestDatabase,
}

impl TestCatalog {
    /// Starts catalog on `database` with the bundled seed, trusting tokens signed by the
    /// identity at `identity_url`. The listener is bound when this returns.
    pub async fn spawn(database: TestDatabase, identity_url: &str) -> anyhow::Result<Self> {
        let mut args = service_args("catalog", &database);
        args.extend(["--seed-on-start", "--identity-url", identity_url]);
        let cli = service::parse::<Catalog>(args)?;
        let app = App::build::<Catalog>(service::config::<Catalog>(&cli)?).await?;
        let (grpc_addr, admin_addr) = (app.grpc_addr(), app.admin_addr());
        let shutdown = Shutdown::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Ok(Self { grpc_addr, admin_addr, shutdown, task: Some(task), _database: database })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// Triggers shutdown and waits (bounded) for catalog to drain and stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(STOP_TIMEOUT, task)
                .await
                .map_err(|_| anyhow::anyhow!("catalog did not stop within {STOP_TIMEOUT:?}"))???;
        }
        Ok(())
    }
}
