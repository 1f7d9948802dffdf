//! The whole checkout as processes: catalog, payments, orders (and, when asked, the gateway)
//! on one nats-server, each service on its own database of the backend under test, with
//! identity in-process to sign tokens. Any service can be killed and restarted on its ports
//! mid-run, as a crash and a supervisor's restart would.

use std::{path::PathBuf, time::Duration};

use mercato_identity::testing::TestIdentity;
use mercato_kit::testing::{Backend, FREE_PORTS, ServiceProcess, TestDatabase, TestNats};

use crate::{binary, path_str};

/// How long a process may take to report serving.
const START: Duration = Duration::from_secs(30);

/// A service of the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Catalog,
    Payments,
    Orders,
}

impl Part {
    fn binary(self) -> &'static str {
        match self {
            Self::Catalog => "catalog",
            Self::Payments => "payments",
            Self::Orders => "orders",
        }
    }
}

/// A running service and how it was started.
#[derive(Debug)]
struct Process {
    process: ServiceProcess,
    flags: Vec<String>,
    _database: TestDatabase,
}

/// See the module docs.
#[derive(Debug)]
pub struct Shop {
    pub identity: TestIdentity,
    pub nats: TestNats,
    /// The test provider's ledger: what payments' provider was asked and answered.
    pub ledger: PathBuf,
    catalog: Process,
    payments: Process,
    orders: Process,
    pub gateway: Option<ServiceProcess>,
    _dir: tempfile::TempDir,
}

impl Shop {
    /// The shop on `backend`; `every` is added to every service's flags, `payments_flags` and
    /// `orders_flags` to those services'.
    pub async fn start(
        backend: Backend,
        every: &[&str],
        payments_flags: &[&str],
        orders_flags: &[&str],
        with_gateway: bool,
    ) -> anyhow::Result<Self> {
        let nats = TestNats::start().await?;
        let identity = TestIdentity::spawn(Backend::Sqlite, &["--nats-url", &nats.url()]).await?;
        let dir = tempfile::tempdir()?;
        let ledger = dir.path().join("provider-ledger.jsonl");
        let common = |database: &TestDatabase| -> Vec<String> {
            ["--database-url", database.url(), "--identity-url", &identity.url(), "--nats-url", &nats.url()]
                .iter()
                .chain(every)
                .map(|f| f.to_string())
                .collect()
        };
        let catalog_db = TestDatabase::create(backend).await?;
        let catalog = spawn(Part::Catalog, common(&catalog_db), catalog_db).await?;
        let payments_db = TestDatabase::create(backend).await?;
        let mut flags = common(&payments_db);
        flags.extend(["--test-provider-ledger".to_string(), path_str(&ledger)?.to_string()]);
        flags.extend(payments_flags.iter().map(|f| f.to_string()));
        let payments = spawn(Part::Payments, flags, payments_db).await?;
        let orders_db = TestDatabase::create(backend).await?;
        let mut flags = common(&orders_db);
        flags.extend(["--catalog-url".to_string(), format!("http://{}", catalog.process.grpc_addr)]);
        flags.extend(orders_flags.iter().map(|f| f.to_string()));
        let orders = spawn(Part::Orders, flags, orders_db).await?;
        let gateway = if with_gateway {
            let urls = [
                ("--catalog-url", catalog.process.grpc_addr),
                ("--orders-url", orders.process.grpc_addr),
                ("--payments-url", payments.process.grpc_addr),
            ]
            .map(|(flag, addr)| [flag.to_string(), format!("http://{addr}")]);
            let mut args: Vec<String> = FREE_PORTS.map(str::to_string).into();
            args.extend(urls.into_iter().flatten());
            args.extend(["--identity-url", &identity.url(), "--rate-limit-per-minute", "1000000"].map(str::to_string));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Some(ServiceProcess::spawn(path_str(&binary("gateway")?)?, &args, START).await?)
        } else {
            None
        };
        Ok(Self { identity, nats, ledger, catalog, payments, orders, gateway, _dir: dir })
    }

    fn part(&self, part: Part) -> &Process {
        match part {
            Part::Catalog => &self.catalog,
            Part::Payments => &self.payments,
            Part::Orders => &self.orders,
        }
    }

    fn part_mut(&mut self, part: Part) -> &mut Process {
        match part {
            Part::Catalog => &mut self.catalog,
            Part::Payments => &mut self.payments,
            Part::Orders => &mut self.orders,
        }
    }

    /// `http://` and the gRPC address of a service.
    pub fn url(&self, part: Part) -> String {
        format!("http://{}", self.part(part).process.grpc_addr)
    }

    pub fn process(&self, part: Part) -> &ServiceProcess {
        &self.part(part).process
    }

    /// SIGKILL for `part`, then the same service on the same ports and database at once.
    pub async fn crash_and_restart(&mut self, part: Part) -> anyhow::Result<()> {
        let running = self.part_mut(part);
        running.process.kill()?;
        running.process.wait(Duration::from_secs(10)).await?;
        let addr = running.process.grpc_addr.to_string();
        let args: Vec<String> = ["--grpc-addr", &addr, "--admin-addr", "127.0.0.1:0"]
            .map(str::to_string)
            .into_iter()
            .chain(running.flags.iter().cloned())
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        running.process = ServiceProcess::spawn(path_str(&binary(part.binary())?)?, &args, START).await?;
        Ok(())
    }
}

async fn spawn(part: Part, flags: Vec<String>, database: TestDatabase) -> anyhow::Result<Process> {
    let args: Vec<&str> = FREE_PORTS.iter().copied().chain(flags.iter().map(String::as_str)).collect();
    let process = ServiceProcess::spawn(path_str(&binary(part.binary())?)?, &args, START).await?;
    Ok(Process { process, flags, _database: database })
}
