//! One gRPC listener plus one admin HTTP listener: bind (port 0 allowed, so tests and
//! `App::build` know the real ports before serving), then serve with health, reflection, the
//! observe and auth layers through the shared [`Lifecycle`] (which also runs the workers and
//! shuts everything down gracefully).

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tonic::{body::Body, server::NamedService, service::RoutesBuilder};
use tower::Service;

use crate::{
    admin::{self, Readiness},
    auth::{AuthLayer, KeySource, Verifier, jwks_client::IdentityJwks, verifier::MIN_KEY_REFRESH},
    client,
    config::{AuthConfig, CommonConfig},
    conn::{Acceptor, ServeLimits, TrackLayer},
    grpc::ObserveLayer,
    lifecycle::{Admin, Lifecycle},
    metrics::Metrics,
    reflection,
    shed::ShedLayer,
    shutdown::Shutdown,
    worker::Workers,
};

/// Keepalive pings find dead peers (a pod that vanished) instead of holding their streams open.
const HTTP2_KEEPALIVE: Duration = Duration::from_secs(30);
/// Streams one connection may have open at once (hyper's default, stated).
const MAX_STREAMS: u32 = 200;
/// Streams a client may reset before this server accepted them, at once, before the server
/// takes it for a rapid-reset attack and answers GOAWAY (h2's default is 20). A client whose
/// calls time out while this process hangs (stopped, a long GC-like pause, CPU starved) resets
/// every one of them, and they all arrive together when it resumes: at 20, a hang of a second
/// under load cost the gateway a burst of 429s afterwards. The callers bound how many that can
/// be (the kit's client: a bulkhead of in-flight calls, and a breaker that stops sending to a
/// downstream that times out), so the limit is set above what they can send, and still far
/// below what an attack needs.
const MAX_PENDING_RESETS: usize = 1024;
/// The largest header list a request may carry.
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// A bound, not yet serving, server. See the module docs.
pub struct Server {
    request_timeout: Duration,
    limits: ServeLimits,
    grpc_listener: TcpListener,
    admin_listener: TcpListener,
    routes: RoutesBuilder,
    lifecycle: Lifecycle,
    metrics: Metrics,
    admin_routes: Router,
    auth: AuthConfig,
    key_source: Option<Box<dyn KeySource>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("grpc_addr", &self.grpc_addr())
            .field("admin_addr", &self.admin_addr())
            .field("lifecycle", &self.lifecycle)
            .finish_non_exhaustive()
    }
}

/// Lets a boxed source stand where `impl KeySource` is expected.
struct BoxedSource(Box<dyn KeySource>);

impl KeySource for BoxedSource {
    fn fetch(&self) -> futures::future::BoxFuture<'_, anyhow::Result<Vec<crate::auth::PublicKey>>> {
        self.0.fetch()
    }
}

impl Server {
    /// Binds both listeners.
    pub async fn bind(config: &CommonConfig) -> anyhow::Result<Self> {
        let grpc_listener = crate::net::listen(config.grpc_addr)
            .with_context(|| format!("binding the gRPC listener on {}", config.grpc_addr))?;
        let admin_listener = crate::net::listen(config.admin_addr)
            .with_context(|| format!("binding the admin listener on {}", config.admin_addr))?;
        let (lifecycle, health_service) = Lifecycle::new(config.shutdown);
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        Ok(Self {
            request_timeout: config.request_timeout,
            limits: config.limits,
            grpc_listener,
            admin_listener,
            routes,
            lifecycle,
            metrics: Metrics::new(config.service, config.version),
            admin_routes: Router::new(),
            auth: config.auth.clone(),
            key_source: None,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        // A bound listener always has a local address; fall back to unspecified rather than panic.
        self.grpc_listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn readiness(&self) -> &Readiness {
        self.lifecycle.readiness()
    }

    /// The background workers this server starts, and drains within its shutdown bound.
    pub fn workers(&mut self) -> &mut Workers {
        self.lifecycle.workers()
    }

    /// Fires when shutdown begins; server streams end on it (see [`Lifecycle::draining`]).
    pub fn draining(&self) -> Shutdown {
        self.lifecycle.draining()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Adds a gRPC service; its health status follows the server's.
    pub fn add_service<S>(&mut self, service: S) -> &mut Self
    where
        S: Service<http::Request<Body>, Error = Infallible> + NamedService + Clone + Send + Sync + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.lifecycle.add_health_name(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Where token-verification keys come from; by default identity's GetJwks at
    /// `IDENTITY_URL` (identity itself passes its own key ring).
    pub fn set_key_source(&mut self, source: impl KeySource) -> &mut Self {
        self.key_source = Some(Box::new(source));
        self
    }

    /// Extra routes on the admin listener.
    pub fn add_admin_routes(&mut self, router: Router) -> &mut Self {
        self.admin_routes = std::mem::take(&mut self.admin_routes).merge(router);
        self
    }

    /// Serves until `shutdown` fires, then shuts down as [`Lifecycle`] describes.
    pub async fn run(mut self, shutdown: Shutdown) -> anyhow::Result<()> {
        reflection::add(&mut self.routes, self.lifecycle.health_names())?;
        let source = match self.key_source.take() {
            Some(source) => BoxedSource(source),
            None => BoxedSource(Box::new(IdentityJwks::new(client::channel(&self.auth.identity_url)?))),
        };
        let verifier = Arc::new(Verifier::new(self.auth.settings.clone(), source, MIN_KEY_REFRESH));

        let addrs = (self.grpc_addr(), self.admin_addr());
        let stop_accepting = self.lifecycle.stop_accepting();
        let incoming = Acceptor::new(self.grpc_listener, self.limits.conn).into_incoming();
        let grpc = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(HTTP2_KEEPALIVE))
            .max_concurrent_streams(MAX_STREAMS)
            .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_RESETS))
            .http2_max_header_list_size(MAX_HEADER_LIST)
            // Caps every unary call (tonic takes the smaller of this and the caller's grpc-timeout).
            .timeout(self.request_timeout)
            // Outermost: the connection's watchdog knows a request is in flight until its
            // response is sent.
            .layer(TrackLayer)
            // Request id, span and metrics cover everything below, refusals included.
            .layer(ObserveLayer::new(self.metrics.grpc.clone()))
            // Beyond capacity, refuse before any work (token checks included) is done.
            .layer(ShedLayer::grpc(self.limits.in_flight).counted(self.metrics.registry()))
            // Then authentication: a bad token never reaches a handler.
            .layer(AuthLayer::new(verifier))
            .add_routes(self.routes.routes())
            .serve_with_incoming_shutdown(incoming, stop_accepting.wait());
        let serving = async move { grpc.await.context("gRPC server failed") };
        let router = admin::router(self.lifecycle.readiness().clone(), self.metrics.clone(), self.admin_routes);
        let admin = Admin { listener: self.admin_listener, router };
        self.lifecycle.run(shutdown, addrs, admin, serving).await
    }
}
