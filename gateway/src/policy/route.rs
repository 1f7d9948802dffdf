//! Which route a request addresses, decided once at the edge, before any policy can refuse
//! it: the `route` label of the edge's metrics — a REST route's template, a gRPC method the
//! edge serves, else `unmatched`, so the label's values are bounded by the contracts and never
//! carry an id from a path — and, for a REST route, the match the handler then uses.

use std::{collections::HashSet, fmt, sync::Arc};

use http::{Method, Request};
use prost_reflect::ServiceDescriptor;

use super::kind::Kind;
use crate::transcode::RouteTable;

/// The label of a request no route or method of the edge matches.
pub const UNMATCHED: &str = "unmatched";

/// The gRPC methods the gateway answers itself (see `proxy.rs`).
const LOCAL_GRPC: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// See the module docs.
pub struct EdgeRoutes {
    rest: Arc<RouteTable>,
    /// REST routes the gateway serves itself (method, path, label), beside the transcoded ones.
    local: Vec<(Method, &'static str, Arc<str>)>,
    grpc: HashSet<Arc<str>>,
    unmatched: Arc<str>,
}

/// The sets are left out: they list every method of the contracts.
impl fmt::Debug for EdgeRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeRoutes")
            .field("rest", &self.rest.routes().len())
            .field("local", &self.local.len())
            .field("grpc", &self.grpc.len())
            .finish()
    }
}

impl EdgeRoutes {
    /// `rest`: the transcoded routes; `exposed`: the services whose methods are passed
    /// through to gRPC clients; `local`: REST paths the gateway answers itself.
    pub fn new<'s>(
        rest: Arc<RouteTable>,
        exposed: impl IntoIterator<Item = &'s ServiceDescriptor>,
        local: &[(Method, &'static str)],
    ) -> Self {
        let mut grpc: HashSet<Arc<str>> = LOCAL_GRPC.iter().map(|&path| Arc::from(path)).collect();
        for service in exposed {
            for method in service.methods() {
                grpc.insert(format!("/{}/{}", service.full_name(), method.name()).into());
            }
        }
        let local =
            local.iter().map(|(method, path)| (method.clone(), *path, Arc::from(format!("{method} {path}")))).collect();
        Self { rest, local, grpc, unmatched: Arc::from(UNMATCHED) }
    }

    /// The `route` label of `req`, of kind `kind`. A REST route found is put in the request's
    /// extensions ([`crate::transcode::Routed`]) for the handler.
    pub fn label<B>(&self, kind: Kind, req: &mut Request<B>) -> Arc<str> {
        match kind {
            Kind::Grpc | Kind::GrpcWeb => {
                self.grpc.get(req.uri().path()).cloned().unwrap_or_else(|| self.unmatched.clone())
            }
            Kind::Rest => {
                let path = req.uri().path();
                if let Some((_, _, label)) = self.local.iter().find(|(m, p, _)| m == req.method() && *p == path) {
                    return label.clone();
                }
                match self.rest.routed(req.method(), path) {
                    Some(routed) => {
                        let label = routed.route().label.clone();
                        req.extensions_mut().insert(routed);
                        label
                    }
                    None => self.unmatched.clone(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::{Routed, testing};

    fn routes() -> EdgeRoutes {
        let pool = testing::pool();
        let catalog = pool.get_service_by_name("mercato.catalog.v1.CatalogService").unwrap();
        EdgeRoutes::new(Arc::new(testing::table().clone()), [&catalog], &[(Method::GET, "/v1/home")])
    }

    fn label(routes: &EdgeRoutes, kind: Kind, method: Method, path: &str) -> (String, bool) {
        let mut req = Request::builder().method(method).uri(path).body(()).unwrap();
        let label = routes.label(kind, &mut req);
        (label.to_string(), req.extensions().get::<Routed>().is_some())
    }

    #[test]
    fn rest_routes_are_labelled_by_template_and_carry_their_match() {
        let r = routes();
        assert_eq!(label(&r, Kind::Rest, Method::GET, "/v1/products/p-123"), ("GET /v1/products/{id}".into(), true));
        assert_eq!(label(&r, Kind::Rest, Method::GET, "/v1/home"), ("GET /v1/home".into(), false));
        assert_eq!(label(&r, Kind::Rest, Method::GET, "/v1/nothing/p-123"), (UNMATCHED.into(), false));
        assert_eq!(label(&r, Kind::Rest, Method::DELETE, "/v1/products/p-123"), (UNMATCHED.into(), false));
    }

    #[test]
    fn grpc_methods_are_labelled_when_the_edge_serves_them() {
        let r = routes();
        let get = "/mercato.catalog.v1.CatalogService/GetProduct";
        assert_eq!(label(&r, Kind::Grpc, Method::POST, get).0, get);
        assert_eq!(label(&r, Kind::GrpcWeb, Method::POST, get).0, get);
        assert_eq!(
            label(&r, Kind::Grpc, Method::POST, "/grpc.health.v1.Health/Check").0,
            "/grpc.health.v1.Health/Check"
        );
        for path in ["/mercato.catalog.v1.StockService/Reserve", "/mercato.catalog.v1.CatalogService/Nope-123", "/x"] {
            assert_eq!(label(&r, Kind::Grpc, Method::POST, path).0, UNMATCHED, "{path}");
        }
    }
}
