//! Building the edge (listeners, mesh, routes, policies) separately from running it, so tests
//! get the real gateway on port 0.
//!
//! The one port speaks HTTP/1.1 and HTTP/2 (h2c). By content type a request is native gRPC
//! (forwarded as is), grpc-web (translated by tonic-web, then forwarded) or REST (transcoded).

use std::{convert::Infallible, fmt, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{Router, body::Body, routing::get};
use http::{Method, Request, Response};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use mercato_kit::{
    Shutdown, admin,
    auth::{Verifier, jwks_client::IdentityJwks, verifier::MIN_KEY_REFRESH},
    client,
    conn::{Acceptor, ServeLimits, Tracked},
    lifecycle::{Admin, Lifecycle},
    metrics::Metrics,
    reflection,
    shed::{self, ShedLayer},
};
use prost_reflect::DescriptorPool;
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, util::BoxCloneSyncService};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::{
    config::Config,
    home::{self, Home},
    mesh::{Mesh, UpstreamReady},
    policy::{
        auth::EdgeAuthLayer,
        kind::{Kind, Peer, refuse},
        observe::{EdgeMetrics, ObserveLayer},
        ratelimit::{RateLimitLayer, RateLimitMetrics, RateLimiter, Sensitive},
        route::EdgeRoutes,
    },
    proxy::GrpcProxy,
    rest::{self, Rest},
    transcode::{Match, RouteTable},
};

type EdgeService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// REST paths the gateway answers itself, beside the transcoded routes.
const HOME: &str = "/v1/home";
const OPENAPI: &str = "/openapi.json";

pub struct App {
    listener: TcpListener,
    admin: TcpListener,
    edge: EdgeService,
    lifecycle: Lifecycle,
    metrics: Metrics,
    max_header_bytes: usize,
    limits: ServeLimits,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("addr", &self.addr())
            .field("admin_addr", &self.admin_addr())
            .field("lifecycle", &self.lifecycle)
            .field("max_header_bytes", &self.max_header_bytes)
            .finish_non_exhaustive()
    }
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = DescriptorPool::decode(mercato::FILE_DESCRIPTOR_SET).context("decoding the descriptor set")?;
        let metrics = Metrics::new(config.common.service, config.common.version);
        let client_metrics = client::ClientMetrics::register(metrics.registry());
        let mesh = Arc::new(Mesh::new(
            pool.clone(),
            &config.upstreams,
            config.upstream_connections,
            config.downstream,
            &client_metrics,
        )?);
        let routes =
            Arc::new(RouteTable::from_pool(&pool, |s| mesh.is_exposed(s.full_name())).context("building REST routes")?);
        let edge_metrics = Arc::new(EdgeMetrics::register(metrics.registry(), config.access_log)?);
        let exposed: Vec<_> = pool.services().filter(|s| mesh.is_exposed(s.full_name())).collect();
        let edge_routes =
            Arc::new(EdgeRoutes::new(routes.clone(), &exposed, &[(Method::GET, HOME), (Method::GET, OPENAPI)]));
        let rate_limit_metrics = RateLimitMetrics::register(metrics.registry())?;
        let (lifecycle, health_service) = Lifecycle::new(config.common.shutdown);
        // Ready when every upstream it is configured with is: no list to keep in step.
        for (name, channel) in mesh.contexts() {
            lifecycle.readiness().add(UpstreamReady { name, channel });
        }
        let verifier = Arc::new(Verifier::new(
            config.common.auth.settings.clone(),
            IdentityJwks::new(client::channel(&config.common.auth.identity_url)?),
            MIN_KEY_REFRESH,
        ));
        let mut local = tonic::service::RoutesBuilder::default();
        local.add_service(health_service);
        reflection::add(&mut local, &mesh.exposed().collect::<Vec<_>>())?;
        let grpc = GrpcProxy::new(mesh.clone(), local.routes(), config.upstream_timeout);

        let sensitive = sensitive_requests(&routes);
        let rest_state = Arc::new(Rest {
            mesh: mesh.clone(),
            routes,
            timeout: config.upstream_timeout,
            max_body: config.max_body_bytes,
            trust_forwarded_for: config.trust_forwarded_for,
        });
        let home_state = Arc::new(Home { mesh: mesh.clone(), budget: config.aggregate_part_timeout });
        let rest_router = Router::new()
            .route(HOME, get(home::handle).with_state(home_state))
            .route(OPENAPI, crate::openapi::route(&rest_state.routes, &pool))
            .fallback(rest::handle)
            .with_state(rest_state);

        let dispatch =
            Dispatch { grpc_web: tonic_web::GrpcWebLayer::new().layer(grpc.clone()), grpc, rest: rest_router };
        let edge = ServiceBuilder::new()
            // Outermost: beyond capacity a refusal must cost next to nothing, or refusing
            // takes the CPU the admitted requests need (the overload bench: admitted p99 42 ms
            // with the refusal inside the request span and metrics, 25 ms outside). Refusals
            // are counted (mercato_shed_total) and logged once a second instead.
            .layer(shed(config.common.limits.in_flight).counted(metrics.registry()))
            // The request id, span and metrics (labelled by the route found here) cover every
            // refusal below.
            .layer(ObserveLayer::new(edge_metrics, edge_routes))
            // CORS answers preflights before anything needs a token.
            .layer(cors(&config.cors_origins))
            // Authentication before rate limiting, so signed-in users get their own bucket.
            .layer(EdgeAuthLayer(verifier))
            .layer(RateLimitLayer {
                general: Arc::new(RateLimiter::per_minute(config.rate_limit_per_minute)),
                credentials: Arc::new(RateLimiter::per_minute(config.auth_rate_limit_per_minute)),
                sensitive,
                trust_forwarded_for: config.trust_forwarded_for,
                metrics: rate_limit_metrics,
            })
            .service(dispatch);

        let listener = mercato_kit::net::listen(config.common.grpc_addr)
            .with_context(|| format!("binding the edge listener on {}", config.common.grpc_addr))?;
        let admin = mercato_kit::net::listen(config.common.admin_addr)
            .with_context(|| format!("binding the admin listener on {}", config.common.admin_addr))?;
        Ok(Self {
            listener,
            admin,
            edge: BoxCloneSyncService::new(edge),
            lifecycle,
            metrics,
            max_header_bytes: config.max_header_bytes,
            limits: config.common.limits,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown`, then drains as the kit's [`Lifecycle`] does for every service.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let addrs = (self.addr(), self.admin_addr());
        let router = admin::router(self.lifecycle.readiness().clone(), self.metrics.clone(), Router::new());
        let admin = Admin { listener: self.admin, router };
        let acceptor = Acceptor::new(self.listener, self.limits.conn);
        let serving = serve(acceptor, self.edge, self.max_header_bytes, self.lifecycle.stop_accepting());
        self.lifecycle.run(shutdown, addrs, admin, serving).await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Streams one connection may have open at once; h2's own limits (resets pending accept: 20)
/// stay at their defaults at the edge, which faces clients the mesh does not control.
const MAX_STREAMS: u32 = 256;

/// Accepts connections until `stop_accepting`, then waits for the open ones to finish their
/// requests (the lifecycle bounds that wait).
async fn serve(
    mut acceptor: Acceptor,
    edge: EdgeService,
    max_header_bytes: usize,
    stop_accepting: Shutdown,
) -> anyhow::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The connection watchdog times the header read (and answers 408); hyper's own timer
    // would close the connection without a word.
    builder
        .http1()
        .max_buf_size(max_header_bytes.max(8192))
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(None);
    builder
        .http2()
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_STREAMS);
    let graceful = GracefulShutdown::new();
    loop {
        let conn = tokio::select! {
            () = stop_accepting.wait() => break,
            conn = acceptor.accept() => conn,
        };
        let (peer, activity) = (conn.peer(), conn.activity());
        let edge = edge.clone();
        let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
            let in_flight = activity.begin();
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(Peer(peer));
            let call = edge.clone().oneshot(req);
            async move {
                let response = call.await?;
                Ok::<_, Infallible>(response.map(|body| Tracked::new(body, Some(in_flight))))
            }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(conn), TowerToHyperService::new(service));
        let watched = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(acceptor);
    graceful.shutdown().await;
    Ok(())
}

/// The edge's refusal beyond capacity: REST 503 with Retry-After, gRPC RESOURCE_EXHAUSTED.
fn shed(limit: shed::Limit) -> ShedLayer<Body> {
    ShedLayer::new(
        limit,
        Arc::new(|headers, limit| {
            let why = format!("the gateway is at capacity ({limit} requests in progress); retry shortly");
            let kind = Kind::of(headers);
            let mut response = match kind {
                Kind::Rest => refuse(kind, &tonic::Status::unavailable(why.clone())),
                Kind::Grpc | Kind::GrpcWeb => refuse(kind, &tonic::Status::resource_exhausted(why.clone())),
            };
            response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            response
        }),
    )
}

/// Routes a request by its kind.
#[derive(Clone)]
struct Dispatch {
    grpc: GrpcProxy,
    grpc_web: tonic_web::GrpcWebService<GrpcProxy>,
    rest: Router,
}

impl Service<Request<Body>> for Dispatch {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        match Kind::of(req.headers()) {
            Kind::Grpc => {
                let grpc = self.grpc.clone();
                Box::pin(async move { Ok(grpc.oneshot(req).await?.map(Body::new)) })
            }
            Kind::GrpcWeb => {
                let web = self.grpc_web.clone();
                Box::pin(async move { Ok(web.oneshot(req).await?.map(Body::new)) })
            }
            Kind::Rest => {
                let rest = self.rest.clone();
                Box::pin(async move { rest.oneshot(req).await })
            }
        }
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            http::Method::GET,
            http::Method::POST,
            http::Method::PUT,
            http::Method::PATCH,
            http::Method::DELETE,
            http::Method::OPTIONS,
        ])
        .allow_headers([
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            http::header::ACCEPT,
            http::HeaderName::from_static("x-request-id"),
            http::HeaderName::from_static("x-grpc-web"),
            http::HeaderName::from_static("x-user-agent"),
            http::HeaderName::from_static("grpc-timeout"),
        ])
        .expose_headers([
            http::HeaderName::from_static("x-request-id"),
            http::HeaderName::from_static("grpc-status"),
            http::HeaderName::from_static("grpc-message"),
            http::HeaderName::from_static("ratelimit-limit"),
            http::HeaderName::from_static("ratelimit-remaining"),
            http::HeaderName::from_static("ratelimit-reset"),
            http::header::RETRY_AFTER,
            http::header::WWW_AUTHENTICATE,
        ])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<http::HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}

/// Login, registration and refresh — by REST route or gRPC path — get the strict bucket.
fn sensitive_requests(routes: &RouteTable) -> Sensitive {
    const METHODS: &[&str] = &[
        "mercato.identity.v1.IdentityService.Login",
        "mercato.identity.v1.IdentityService.Register",
        "mercato.identity.v1.IdentityService.Refresh",
    ];
    let grpc_paths: Vec<String> = METHODS
        .iter()
        .filter_map(|m| m.rsplit_once('.'))
        .map(|(service, method)| format!("/{service}/{method}"))
        .collect();
    let credentials = routes.only(METHODS);
    Arc::new(move |method: &http::Method, path: &str| {
        grpc_paths.iter().any(|p| p == path) || matches!(credentials.find(method, path), Match::Found(_))
    })
}
