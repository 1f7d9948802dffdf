use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use clap::Parser;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use mercato_identity::testing::TestIdentity;
use mercato_kit::{
    Shutdown,
    testing::{Backend, TestDatabase},
};
use tokio::task::JoinHandle;

/// identity + catalog (seeded) + the gateway, in this process.
pub struct Stack {
    pub gateway: SocketAddr,
    pub gateway_admin: SocketAddr,
    pub catalog_admin: SocketAddr,
    pub identity: TestIdentity,
    stops: Vec<(Shutdown, JoinHandle<anyhow::Result<()>>)>,
    catalog_db: TestDatabase,
    catalog_addr: SocketAddr,
}

/// catalog on `grpc_addr` (port 0: any) over `db`, seeded, verifying tokens with identity's keys.
async fn start_catalog(
    db: &TestDatabase,
    grpc_addr: &str,
    identity_url: &str,
) -> (SocketAddr, SocketAddr, (Shutdown, JoinHandle<anyhow::Result<()>>)) {
    let cli = mercato_catalog::Cli::try_parse_from([
        "catalog",
        "--grpc-addr",
        grpc_addr,
        "--admin-addr",
        "127.0.0.1:0",
        "--database-url",
        db.url(),
        "--seed-on-start",
        "--identity-url",
        identity_url,
    ])
    .unwrap();
    let catalog = mercato_catalog::App::build(cli.config().unwrap()).await.unwrap();
    let (grpc, admin) = (catalog.grpc_addr(), catalog.admin_addr());
    let stop = Shutdown::new();
    (grpc, admin, (stop.clone(), tokio::spawn(catalog.run_until_stopped(stop))))
}

/// A port nothing listens on (bound, then released).
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// `gateway_args` are appended to the gateway's flags (e.g. a stricter rate limit).
    pub async fn start_with(gateway_args: &[&str]) -> Self {
        let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await.unwrap();
        let identity_url = identity.url();
        let catalog_db = TestDatabase::create(Backend::Sqlite).await.unwrap();
        let (catalog_addr, catalog_admin, catalog) = start_catalog(&catalog_db, "127.0.0.1:0", &identity_url).await;
        let mut stops = vec![catalog];

        let catalog_url = format!("http://{catalog_addr}");
        let dead = dead_url();
        let mut args = vec![
            "gateway",
            "--grpc-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--identity-url",
            &identity_url,
        ];
        // Unless the test points catalog elsewhere (at a dead port, say), it is the real one.
        if !gateway_args.contains(&"--catalog-url") {
            args.extend(["--catalog-url", &catalog_url]);
        }
        args.extend(["--orders-url", &dead]);
        args.extend_from_slice(gateway_args);
        let gateway =
            mercato_gateway::App::build(mercato_gateway::Cli::try_parse_from(args).unwrap().config().unwrap())
                .await
                .unwrap();
        let (gateway_addr, gateway_admin) = (gateway.addr(), gateway.admin_addr());
        let stop = Shutdown::new();
        stops.push((stop.clone(), tokio::spawn(gateway.run_until_stopped(stop))));
        Self { gateway: gateway_addr, gateway_admin, catalog_admin, identity, stops, catalog_db, catalog_addr }
    }

    /// Stops catalog (the gateway's connections to it break) and starts it again on the same
    /// port and database.
    pub async fn restart_catalog(&mut self) {
        let (stop, task) = self.stops.remove(0);
        stop.trigger();
        tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
        let (_, admin, catalog) =
            start_catalog(&self.catalog_db, &self.catalog_addr.to_string(), &self.identity.url()).await;
        self.catalog_admin = admin;
        self.stops.insert(0, catalog);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway)
    }

    pub async fn stop(mut self) {
        for (stop, task) in self.stops.drain(..).rev() {
            stop.trigger();
            tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
        }
        self.identity.stop().await.unwrap();
    }
}

/// A response as a test sees it.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request (what curl would send).
pub async fn http(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if !body.is_empty() && !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
        request = request.header("content-type", "application/json");
    }
    let response = client.request(request.body(Full::new(Bytes::from(body.to_string()))).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply { status: parts.status, headers: parts.headers, body }
}

pub async fn get(url: &str) -> Reply {
    http(Method::GET, url, &[], "").await
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The field paths of a REST 400's BadRequest detail.
pub fn violated_fields(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let json = reply.json();
    json["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")
        .flat_map(|d| d["fieldViolations"].as_array().unwrap().iter().map(|v| v["field"].as_str().unwrap().to_string()))
        .collect()
}

pub const SEEDED_ID: &str = "364dc957-51ca-4f13-889e-665df2d6633f";
