//! The harness of the end-to-end tests: the workspace's real binaries (catalog, the gateway)
//! as processes on free loopback ports, with identity in-process to sign tokens, so a test
//! can kill, stop and resume a service as an operator's fault would.

pub mod prometheus;
pub mod shop;
pub mod whole;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use mercato_identity::testing::TestIdentity;
use mercato_kit::testing::{Backend, FREE_PORTS, ServiceProcess, TestDatabase, dead_url, http_get};

/// A product the bundled seed always has.
pub const SEEDED_PRODUCT: &str = "364dc957-51ca-4f13-889e-665df2d6633f";

/// How long a process may take to report serving.
const START: Duration = Duration::from_secs(20);

/// One of the workspace's binaries, built beside the tests by the same `cargo` run (`just
/// test` builds them all; `cargo nextest run -p mercato-e2e` alone does not).
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(|deps| deps.parent()).ok_or_else(|| anyhow::anyhow!("no target directory"))?;
    let path = dir.join(name);
    anyhow::ensure!(path.exists(), "{} is not built: run `cargo build --workspace --bins` first", path.display());
    Ok(path)
}

/// identity (in-process), catalog and the gateway (processes) in front of it.
#[derive(Debug)]
pub struct Stack {
    pub identity: TestIdentity,
    pub catalog: ServiceProcess,
    pub gateway: ServiceProcess,
    /// How catalog was started, for [`Stack::restart_catalog`].
    catalog_flags: Vec<String>,
    _database: TestDatabase,
}

impl Stack {
    /// Catalog on a fresh SQLite database with the seed, and a gateway with `gateway_flags`.
    pub async fn start(gateway_flags: &[&str]) -> anyhow::Result<Self> {
        let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await?;
        let database = TestDatabase::create(Backend::Sqlite).await?;
        let identity_url = identity.url();
        let nats = dead_url("nats");
        let catalog_bin = binary("catalog")?;
        let catalog_flags: Vec<String> =
            ["--database-url", database.url(), "--seed-on-start", "--identity-url", &identity_url, "--nats-url", &nats]
                .map(str::to_string)
                .into();
        let flags: Vec<&str> = catalog_flags.iter().map(String::as_str).collect();
        let catalog =
            ServiceProcess::spawn(path_str(&catalog_bin)?, &[&FREE_PORTS[..], &flags].concat(), START).await?;
        let catalog_url = format!("http://{}", catalog.grpc_addr);
        let gateway_bin = binary("gateway")?;
        let own =
            ["--catalog-url", &catalog_url, "--identity-url", &identity_url, "--rate-limit-per-minute", "1000000"];
        let gateway =
            ServiceProcess::spawn(path_str(&gateway_bin)?, &[&FREE_PORTS[..], &own, gateway_flags].concat(), START)
                .await?;
        Ok(Self { identity, catalog, gateway, catalog_flags, _database: database })
    }

    /// SIGKILL for catalog, then a new catalog on the same port at once: an error if it cannot
    /// bind (or does not report serving).
    pub async fn restart_catalog(&mut self) -> anyhow::Result<()> {
        self.catalog.kill()?;
        self.catalog.wait(Duration::from_secs(10)).await?;
        let port = format!("{}", self.catalog.grpc_addr);
        let flags: Vec<&str> = self.catalog_flags.iter().map(String::as_str).collect();
        let args = [&["--grpc-addr", port.as_str(), "--admin-addr", "127.0.0.1:0"][..], &flags].concat();
        self.catalog = ServiceProcess::spawn(path_str(&binary("catalog")?)?, &args, START).await?;
        Ok(())
    }

    /// GET `path` at the gateway.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(self.gateway.grpc_addr, path).await
    }
}

fn path_str(path: &std::path::Path) -> anyhow::Result<&str> {
    path.to_str().ok_or_else(|| anyhow::anyhow!("{} is not UTF-8", path.display()))
}

/// The sum of the series of `name` with `label` on the /metrics of the admin port at `admin`.
pub async fn metric(admin: SocketAddr, name: &str, label: (&str, &str)) -> anyhow::Result<f64> {
    let (_, text) = http_get(admin, "/metrics").await?;
    Ok(mercato_kit::testing::metric(&text, name, label))
}
