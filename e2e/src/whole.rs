//! The whole shop as processes, as `just dev` runs it: identity, catalog (with its seed),
//! orders, payments, shipping, notifications (writing .eml files) and the gateway in front, on
//! one nats-server, each service on its own database of the backend under test. Nothing runs
//! in the test's process: a test speaks to the gateway as a shopper's client would.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use mercato_kit::testing::{Backend, FREE_PORTS, ServiceProcess, TestDatabase, TestNats};

use crate::{binary, path_str};

/// How long a process may take to report serving.
const START: Duration = Duration::from_secs(30);

/// The secret every service client has with identity here.
const SECRET: &str = "whole-shop-service-secret-0123456789";

/// The administrator `identity create-admin` made before identity started.
pub const ADMIN_EMAIL: &str = "admin@mercato.test";
pub const ADMIN_PASSWORD: &str = "admin password for the whole shop";

/// See the module docs.
#[derive(Debug)]
pub struct WholeShop {
    pub gateway: ServiceProcess,
    /// Where notifications writes one `<notification id>.eml` per message.
    pub mail_dir: PathBuf,
    services: Vec<(&'static str, ServiceProcess)>,
    _databases: Vec<TestDatabase>,
    _nats: TestNats,
    _dir: tempfile::TempDir,
}

impl WholeShop {
    /// Every service on `backend`; shipping with `shipping_flags` (its delays, say).
    pub async fn start(backend: Backend, shipping_flags: &[&str]) -> anyhow::Result<Self> {
        Self::start_with(backend, shipping_flags, |_| Vec::new()).await
    }

    /// [`WholeShop::start`], each binary also given the flags `every` returns for its name.
    pub async fn start_with(
        backend: Backend,
        shipping_flags: &[&str],
        every: impl Fn(&str) -> Vec<String>,
    ) -> anyhow::Result<Self> {
        let nats = TestNats::start().await?;
        let dir = tempfile::tempdir()?;
        let mail_dir = dir.path().join("mail");
        let mut databases = Vec::new();
        let mut services = Vec::new();

        let identity_db = TestDatabase::create(backend).await?;
        let clients: Vec<String> = ["catalog", "orders", "payments", "shipping", "notifications", "gateway"]
            .iter()
            .map(|s| format!("{s}={SECRET}"))
            .collect();
        let identity_flags = vec![
            "--database-url".to_string(),
            identity_db.url().to_string(),
            "--nats-url".to_string(),
            nats.url(),
            "--service-clients".to_string(),
            clients.join(","),
        ];
        create_admin(&identity_flags).await?;
        let identity = spawn("identity", &[identity_flags.clone(), every("identity")].concat()).await?;
        let identity_url = format!("http://{}", identity.grpc_addr);
        databases.push(identity_db);
        services.push(("identity", identity));

        let mail = path_str(&mail_dir)?.to_string();
        let catalog_url = {
            let database = TestDatabase::create(backend).await?;
            let flags = [common(&database, &identity_url, &nats, &["--seed-on-start"]), every("catalog")].concat();
            let catalog = spawn("catalog", &flags).await?;
            let url = format!("http://{}", catalog.grpc_addr);
            databases.push(database);
            services.push(("catalog", catalog));
            url
        };
        let own: [(&'static str, Vec<&str>); 4] = [
            ("payments", vec![]),
            ("orders", vec!["--catalog-url", &catalog_url]),
            ("shipping", shipping_flags.to_vec()),
            ("notifications", vec!["--notification-sink", "file", "--mail-dir", &mail]),
        ];
        for (name, extra) in own {
            let database = TestDatabase::create(backend).await?;
            let process = spawn(name, &[common(&database, &identity_url, &nats, &extra), every(name)].concat()).await?;
            databases.push(database);
            services.push((name, process));
        }

        let mut args: Vec<String> = vec!["--identity-url".into(), identity_url.clone()];
        for (name, process) in &services {
            if *name != "identity" {
                args.extend([format!("--{name}-url"), format!("http://{}", process.grpc_addr)]);
            }
        }
        args.extend(
            ["--rate-limit-per-minute", "1000000", "--auth-rate-limit-per-minute", "1000000"].map(String::from),
        );
        args.extend(every("gateway"));
        let gateway = spawn("gateway", &args).await?;
        Ok(Self { gateway, mail_dir, services, _databases: databases, _nats: nats, _dir: dir })
    }

    /// Where the gateway listens (REST, grpc-web and gRPC).
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway.grpc_addr
    }

    /// Every process stopped as an orchestrator stops them (SIGTERM, the gateway first), each
    /// awaited for at most `deadline`: the name and exit status of each, gateway first.
    pub async fn stop(&mut self, deadline: Duration) -> anyhow::Result<Vec<(&'static str, std::process::ExitStatus)>> {
        self.gateway.terminate()?;
        for (_, process) in &self.services {
            process.terminate()?;
        }
        let mut exits = vec![("gateway", self.gateway.wait(deadline).await?)];
        for (name, process) in &mut self.services {
            exits.push((*name, process.wait(deadline).await?));
        }
        Ok(exits)
    }

    /// A service's process, by binary name.
    pub fn service(&self, name: &str) -> Option<&ServiceProcess> {
        self.services.iter().find(|(n, _)| *n == name).map(|(_, p)| p)
    }
}

fn common(database: &TestDatabase, identity_url: &str, nats: &TestNats, extra: &[&str]) -> Vec<String> {
    ["--database-url", database.url(), "--identity-url", identity_url, "--nats-url", &nats.url()]
        .iter()
        .chain(extra)
        .map(|f| f.to_string())
        .collect()
}

async fn spawn(name: &str, flags: &[String]) -> anyhow::Result<ServiceProcess> {
    let args: Vec<&str> = FREE_PORTS.iter().copied().chain(flags.iter().map(String::as_str)).collect();
    ServiceProcess::spawn(path_str(&binary(name)?)?, &args, START).await
}

/// `identity create-admin` on identity's database before it serves, as an operator would.
async fn create_admin(identity_flags: &[String]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(binary("identity")?)
        .args(identity_flags)
        .args(["create-admin", "--email", ADMIN_EMAIL, "--display-name", "Whole Shop Admin"])
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("LOG_FORMAT", "json")
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "identity create-admin failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
