use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use clap::Parser;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use mercato_catalog::testing::TestCatalog;
use mercato_identity::testing::TestIdentity;
use mercato_kit::testing::{Backend, FREE_PORTS, Running, TestDatabase};
use tokio::task::JoinHandle;

/// identity + catalog (seeded) + the gateway, in this process.
pub(crate) struct Stack {
    pub gateway: SocketAddr,
    pub gateway_admin: SocketAddr,
    pub catalog_admin: SocketAddr,
    pub identity: TestIdentity,
    pub relay: Option<Relay>,
    catalog: TestCatalog,
    gateway_running: Running,
}

/// A TCP relay between the gateway and an upstream whose connections a test can cut, as an
/// upstream crash or a load balancer dropping idle connections would.
pub(crate) struct Relay {
    pub addr: SocketAddr,
    relayed: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let relayed = Arc::new(Mutex::new(Vec::new()));
        let tracked = relayed.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap().push(relay);
            }
        });
        Self { addr, relayed, accept }
    }

    /// Closes every relayed connection; returns how many there were. New ones still work.
    pub(crate) fn cut(&self) -> usize {
        let cut: Vec<_> = self.relayed.lock().unwrap().drain(..).collect();
        for relay in &cut {
            relay.abort();
        }
        cut.len()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// An upstream nothing listens on.
pub(crate) fn dead_url() -> String {
    mercato_kit::testing::dead_url("http")
}

impl Stack {
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// `gateway_args` are appended to the gateway's flags (e.g. a stricter rate limit).
    pub(crate) async fn start_with(gateway_args: &[&str]) -> Self {
        Self::build(gateway_args, false).await
    }

    /// The gateway reaches catalog through a [`Relay`] the test can cut.
    pub(crate) async fn start_behind_relay() -> Self {
        Self::build(&[], true).await
    }

    async fn build(gateway_args: &[&str], relay: bool) -> Self {
        let identity = TestIdentity::spawn(Backend::Sqlite, &[]).await.unwrap();
        let identity_url = identity.url();
        let catalog_db = TestDatabase::create(Backend::Sqlite).await.unwrap();
        let catalog = TestCatalog::spawn(catalog_db, &identity_url).await.unwrap();

        let relay = if relay { Some(Relay::start(catalog.grpc_addr).await) } else { None };
        let catalog_url = format!("http://{}", relay.as_ref().map_or(catalog.grpc_addr, |r| r.addr));
        let mut args = vec!["gateway"];
        args.extend(FREE_PORTS);
        args.extend(["--identity-url", &identity_url]);
        // Unless the test points catalog elsewhere (at a dead port, say), it is the real one.
        if !gateway_args.contains(&"--catalog-url") {
            args.extend(["--catalog-url", &catalog_url]);
        }
        args.extend_from_slice(gateway_args);
        let gateway =
            mercato_gateway::App::build(mercato_gateway::Cli::try_parse_from(args).unwrap().config().unwrap())
                .await
                .unwrap();
        let (gateway_addr, gateway_admin) = (gateway.addr(), gateway.admin_addr());
        let gateway_running =
            Running::spawn("gateway", gateway_addr, gateway_admin, |stop| gateway.run_until_stopped(stop))
                .await
                .unwrap();
        let catalog_admin = catalog.admin_addr;
        Self { gateway: gateway_addr, gateway_admin, catalog_admin, identity, relay, catalog, gateway_running }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway)
    }

    pub(crate) async fn stop(self) {
        self.gateway_running.stop().await.unwrap();
        self.catalog.stop().await.unwrap();
        self.identity.stop().await.unwrap();
    }
}

/// A response as a test sees it.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request (what curl would send).
pub(crate) async fn http(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
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

pub(crate) async fn get(url: &str) -> Reply {
    http(Method::GET, url, &[], "").await
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The field paths of a REST 400's BadRequest detail.
pub(crate) fn violated_fields(reply: &Reply) -> Vec<String> {
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

pub(crate) const SEEDED_ID: &str = "364dc957-51ca-4f13-889e-665df2d6633f";
