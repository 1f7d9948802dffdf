//! A server running in the test's own process on free ports — a service built by the kit's
//! skeleton or the gateway — started, waited for, and stopped within a bound, the same way for
//! all of them.

use std::{future::Future, net::SocketAddr, time::Duration};

use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

use super::{TestDatabase, http_get, patience};
use crate::{
    Shutdown,
    service::{self, App, Service},
};

/// How long a started server may take to report started, and a stopped one to drain.
const START_DEADLINE: Duration = Duration::from_secs(20);
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// See the module docs. Dropping it without [`Running::stop`] triggers shutdown and leaves the
/// rest to the test's runtime.
#[derive(Debug)]
pub struct Running {
    pub name: String,
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The service's database pool (services built by the kit's skeleton).
    pub db: Option<DatabaseConnection>,
    shutdown: Shutdown,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _database: Option<TestDatabase>,
}

impl Running {
    /// Builds service `S` from a command line (the binary's name first; see
    /// [`super::service_args`]) and runs it until stopped, keeping `database` alive as long.
    pub async fn service<S: Service>(args: Vec<String>, database: Option<TestDatabase>) -> anyhow::Result<Self> {
        let cli = service::parse::<S>(args)?;
        let app = App::build::<S>(service::config::<S>(&cli)?).await?;
        let (grpc_addr, admin_addr, db) = (app.grpc_addr(), app.admin_addr(), app.db().clone());
        let mut running =
            Self::spawn(S::DEFAULTS.name, grpc_addr, admin_addr, |shutdown| app.run_until_stopped(shutdown)).await?;
        running.db = Some(db);
        running._database = database;
        Ok(running)
    }

    /// Runs `run` (a built server's run-until-stopped) and waits until its admin port reports
    /// start-up finished, which the kit's lifecycle does right after health turns SERVING.
    pub async fn spawn<F, Fut>(
        name: &str,
        grpc_addr: SocketAddr,
        admin_addr: SocketAddr,
        run: F,
    ) -> anyhow::Result<Self>
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let shutdown = Shutdown::new();
        let mut task = tokio::spawn(run(shutdown.clone()));
        let deadline = patience(START_DEADLINE);
        let started = tokio::time::timeout(deadline, async {
            loop {
                if task.is_finished() {
                    return false;
                }
                if matches!(http_get(admin_addr, "/startupz").await, Ok((200, _))) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        match started {
            Ok(true) => {}
            Ok(false) => {
                let outcome = (&mut task).await;
                anyhow::bail!("{name} stopped before it started: {outcome:?}");
            }
            Err(_) => {
                shutdown.trigger();
                anyhow::bail!("{name} did not start within {deadline:?}");
            }
        }
        Ok(Self {
            name: name.to_string(),
            grpc_addr,
            admin_addr,
            db: None,
            shutdown,
            task: Some(task),
            _database: None,
        })
    }

    /// `http://<grpc address>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// Waits until `/readyz` answers 200: a service with its database and broker is ready
    /// within moments of starting (its NATS connection completes in the background).
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let admin = self.admin_addr;
        let deadline = patience(Duration::from_secs(10));
        tokio::time::timeout(deadline, async {
            while !matches!(super::http_get(admin, "/readyz").await, Ok((200, _))) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("{} was not ready within {deadline:?}", self.name))
    }

    /// Triggers shutdown and waits, within a bound, for the server to drain and stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        let Some(task) = self.task.take() else { return Ok(()) };
        let deadline = patience(STOP_DEADLINE);
        tokio::time::timeout(deadline, task)
            .await
            .map_err(|_| anyhow::anyhow!("{} did not stop within {deadline:?}", self.name))?
            .map_err(|e| anyhow::anyhow!("{} panicked: {e}", self.name))?
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.shutdown.trigger();
        }
    }
}
