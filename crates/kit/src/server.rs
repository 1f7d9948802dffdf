//! One gRPC listener plus one admin HTTP listener, with the lifecycle every binary shares:
//! bind (port 0 allowed, so tests and `App::build` know the real ports before serving), serve
//! with health, reflection and the observe layer, then shut down gracefully.
//!
//! Shutdown, once triggered: every service reports NOT_SERVING and /readyz fails; serving goes
//! on for `shutdown.delay` so load balancers notice; then the listener closes and in-flight calls
//! drain; the whole sequence is bounded by `shutdown.timeout`, after which the remaining calls
//! are dropped.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::Router;
use tokio::{net::TcpListener, task::JoinHandle, time::Instant};
use tonic::{body::Body, server::NamedService, service::RoutesBuilder, transport::server::TcpIncoming};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::Service;

use crate::{
    admin::{self, Readiness},
    auth::{AuthLayer, KeySource, Verifier, jwks_client::IdentityJwks, verifier::MIN_KEY_REFRESH},
    client,
    config::{AuthConfig, CommonConfig, ShutdownTimings},
    grpc::ObserveLayer,
    metrics::Metrics,
    shutdown::Shutdown,
};

/// Keepalive pings find dead peers (a pod that vanished) instead of holding their streams open.
const HTTP2_KEEPALIVE: Duration = Duration::from_secs(30);

/// A bound, not yet serving, server. See the module docs.
pub struct Server {
    service: &'static str,
    timings: ShutdownTimings,
    request_timeout: Duration,
    grpc_listener: TcpListener,
    admin_listener: TcpListener,
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    health: HealthReporter,
    readiness: Readiness,
    metrics: Metrics,
    admin_routes: Router,
    auth: AuthConfig,
    key_source: Option<Box<dyn KeySource>>,
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
        let grpc_listener = TcpListener::bind(config.grpc_addr)
            .await
            .with_context(|| format!("binding the gRPC listener on {}", config.grpc_addr))?;
        let admin_listener = TcpListener::bind(config.admin_addr)
            .await
            .with_context(|| format!("binding the admin listener on {}", config.admin_addr))?;
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        Ok(Self {
            service: config.service,
            timings: config.shutdown,
            request_timeout: config.request_timeout,
            grpc_listener,
            admin_listener,
            routes,
            service_names: Vec::new(),
            health,
            readiness: Readiness::default(),
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
        &self.readiness
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
        self.service_names.push(S::NAME);
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

    /// Serves until `shutdown` fires, then shuts down as the module docs describe.
    pub async fn run(mut self, shutdown: Shutdown) -> anyhow::Result<()> {
        let reflection_v1 =
            reflection_builder(&self.service_names).build_v1().context("building the reflection service")?;
        // grpcurl 1.8 (and other older clients) still speak only v1alpha.
        let reflection_v1alpha = reflection_builder(&self.service_names)
            .build_v1alpha()
            .context("building the reflection v1alpha service")?;
        self.routes.add_service(reflection_v1).add_service(reflection_v1alpha);

        let source = match self.key_source.take() {
            Some(source) => BoxedSource(source),
            None => BoxedSource(Box::new(IdentityJwks::new(client::channel(&self.auth.identity_url)?))),
        };
        let verifier = Arc::new(Verifier::new(self.auth.settings.clone(), source, MIN_KEY_REFRESH));

        let grpc_addr = self.grpc_addr();
        let admin_addr = self.admin_addr();
        let stop_accepting = Shutdown::new();
        let incoming = TcpIncoming::from(self.grpc_listener).with_nodelay(Some(true));
        let grpc = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(HTTP2_KEEPALIVE))
            // Caps every unary call (tonic takes the smaller of this and the caller's grpc-timeout).
            .timeout(self.request_timeout)
            // Outermost: request id, span and metrics cover everything below, refusals included.
            .layer(ObserveLayer::new(self.metrics.grpc.clone()))
            // Then authentication: a bad token never reaches a handler.
            .layer(AuthLayer::new(verifier))
            .add_routes(self.routes.routes())
            .serve_with_incoming_shutdown(incoming, stop_accepting.wait());
        let mut grpc: JoinHandle<Result<(), tonic::transport::Error>> = tokio::spawn(grpc);

        let admin_stop = Shutdown::new();
        let admin_router = admin::router(self.readiness.clone(), self.metrics.clone(), self.admin_routes);
        let admin = axum::serve(self.admin_listener, admin_router).with_graceful_shutdown(admin_stop.wait());
        let admin = tokio::spawn(async move { admin.await });

        set_status(&self.health, &self.service_names, ServingStatus::Serving).await;
        self.readiness.mark_started();
        tracing::info!(service = self.service, %grpc_addr, %admin_addr, "serving");

        tokio::select! {
            () = shutdown.wait() => {}
            result = &mut grpc => {
                admin_stop.trigger();
                return match result {
                    Ok(Ok(())) => Err(anyhow::anyhow!("gRPC server stopped unexpectedly")),
                    Ok(Err(e)) => Err(e).context("gRPC server failed"),
                    Err(e) => Err(e).context("gRPC server task failed"),
                };
            }
        }

        let deadline = Instant::now() + self.timings.timeout;
        tracing::info!(delay = ?self.timings.delay, timeout = ?self.timings.timeout, "shutting down: reporting NOT_SERVING");
        self.readiness.mark_draining();
        set_status(&self.health, &self.service_names, ServingStatus::NotServing).await;
        tokio::time::sleep_until(deadline.min(Instant::now() + self.timings.delay)).await;

        tracing::info!("closing the listener and draining in-flight calls");
        stop_accepting.trigger();
        match tokio::time::timeout_at(deadline, &mut grpc).await {
            Ok(Ok(Ok(()))) => tracing::info!("drained"),
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "gRPC server ended with an error while draining")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "gRPC server task failed while draining"),
            Err(_) => {
                tracing::warn!(timeout = ?self.timings.timeout, "shutdown timeout elapsed; dropping calls still in flight");
                grpc.abort();
            }
        }
        admin_stop.trigger();
        let _ = tokio::time::timeout_at(deadline.max(Instant::now() + Duration::from_millis(100)), admin).await;
        Ok(())
    }
}

async fn set_status(health: &HealthReporter, names: &[&'static str], status: ServingStatus) {
    // "" is the whole server, as Kubernetes' gRPC probe asks by default.
    health.set_service_status("", status).await;
    for name in names {
        health.set_service_status(*name, status).await;
    }
}

/// Reflection lists only what this server serves, not every service in the contracts.
fn reflection_builder(names: &[&'static str]) -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(mercato::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1.ServerReflection")
        .with_service_name("grpc.reflection.v1alpha.ServerReflection");
    for name in names {
        builder = builder.with_service_name(*name);
    }
    builder
}
