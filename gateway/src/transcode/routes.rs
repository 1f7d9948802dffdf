//! The route table: every `google.api.http` binding of the exposed services, and finding the one
//! an HTTP request addresses.

use std::{collections::HashMap, sync::Arc};

use http::uri::PathAndQuery;
use prost_reflect::{DescriptorPool, Kind, MethodDescriptor, ServiceDescriptor};

use super::error::TranscodeError;
use super::fields::{self, ResolveError};
use super::rule::{self, Binding};
use super::template::{PathTemplate, RequestPath};

/// Where the HTTP request body goes in the request message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyMapping {
    /// No body: every field not bound by the path comes from the query string.
    None,
    /// `body: "*"`: the body is the request message (less path-bound fields); no query parameters.
    Whole,
    /// `body: "field"`: the body is that top-level field; the rest may come from the query string.
    Field(String),
}

/// One HTTP binding of one gRPC method.
#[derive(Debug, Clone)]
pub struct Route {
    /// `GET /v1/products/{id}`: the `route` label of the edge's metrics, made once.
    pub label: Arc<str>,
    pub http_method: http::Method,
    pub template: PathTemplate,
    pub raw_template: String,
    pub body: BodyMapping,
    pub response_body: Option<String>,
    pub method: MethodDescriptor,
    /// The method's gRPC request path, `/package.Service/Method`, parsed once.
    pub grpc_path: PathAndQuery,
    pub server_streaming: bool,
    pub client_streaming: bool,
}

impl Route {
    fn new(method: &MethodDescriptor, binding: Binding) -> Result<Self, TranscodeError> {
        let invalid = |reason: String| TranscodeError::InvalidRule { method: method.full_name().to_owned(), reason };
        let template = PathTemplate::parse(&binding.template).map_err(|source| TranscodeError::InvalidTemplate {
            method: method.full_name().to_owned(),
            template: binding.template.clone(),
            source,
        })?;
        let input = method.input();
        for var in template.variables() {
            let name = var.join(".");
            let path = fields::resolve(&input, &var, false).map_err(|e| match e {
                ResolveError::Unknown => invalid(format!("path variable `{name}` names no field of {}", input.name())),
                ResolveError::NotAMessage(p) => invalid(format!("path variable `{name}`: `{p}` is not a message")),
            })?;
            let leaf = path.last().ok_or_else(|| invalid(format!("empty path variable `{name}`")))?;
            if leaf.is_list() || leaf.is_map() || matches!(leaf.kind(), Kind::Message(_)) {
                return Err(invalid(format!("path variable `{name}` must name a singular non-message field")));
            }
        }
        let body = match binding.body.as_str() {
            "" => BodyMapping::None,
            "*" => BodyMapping::Whole,
            name => {
                if input.get_field_by_name(name).is_none() {
                    return Err(invalid(format!("body `{name}` names no top-level field of {}", input.name())));
                }
                BodyMapping::Field(name.to_owned())
            }
        };
        let response_body = match binding.response_body.as_str() {
            "" => None,
            name => {
                if method.output().get_field_by_name(name).is_none() {
                    return Err(invalid(format!(
                        "response_body `{name}` names no top-level field of {}",
                        method.output().name()
                    )));
                }
                Some(name.to_owned())
            }
        };
        Ok(Route {
            label: format!("{} {}", binding.http_method, binding.template).into(),
            http_method: binding.http_method,
            template,
            raw_template: binding.template,
            body,
            response_body,
            method: method.clone(),
            grpc_path: grpc_path(method)
                .map_err(|_| invalid(format!("`{}` is not a valid request path", method.full_name())))?,
            server_streaming: method.is_server_streaming(),
            client_streaming: method.is_client_streaming(),
        })
    }
}

/// `/package.Service/Method`: where a gRPC client sends calls of `method`.
pub fn grpc_path(method: &MethodDescriptor) -> Result<PathAndQuery, http::uri::InvalidUri> {
    format!("/{}/{}", method.parent_service().full_name(), method.name()).parse()
}

/// A route and the path variables its template bound: field path → percent-decoded value.
#[derive(Debug, Clone)]
pub struct RouteMatch<'a> {
    pub route: &'a Route,
    pub bindings: Vec<(Vec<String>, String)>,
}

#[derive(Debug, Clone)]
pub enum Match<'a> {
    Found(RouteMatch<'a>),
    /// The path exists, but not for this HTTP method; these are the methods it has.
    MethodNotAllowed(Vec<http::Method>),
    NotFound,
}

/// A route found for a request once, at the edge (where its template labels the metrics),
/// carried to the REST handler in the request's extensions so that the table is not searched
/// a second time.
#[derive(Debug, Clone)]
pub struct Routed {
    table: Arc<RouteTable>,
    index: usize,
    bindings: Vec<(Vec<String>, String)>,
}

impl Routed {
    pub fn route(&self) -> &Route {
        // `index` came from this table's search, and tables never change.
        &self.table.routes[self.index]
    }

    /// The match, if it was found in `table` (the one the handler would search).
    pub fn resolve(self, table: &Arc<RouteTable>) -> Option<RouteMatch<'_>> {
        if !Arc::ptr_eq(&self.table, table) {
            return None;
        }
        Some(RouteMatch { route: table.routes.get(self.index)?, bindings: self.bindings })
    }
}

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Every method with a `google.api.http` rule (and its additional bindings) in the services
    /// `expose` accepts. Two routes that would match the same requests are an error, so that
    /// `find` never has to break a tie.
    pub fn from_pool(
        pool: &DescriptorPool,
        expose: impl Fn(&ServiceDescriptor) -> bool,
    ) -> Result<Self, TranscodeError> {
        let Some(ext) = rule::http_extension(pool) else {
            return Ok(Self::default());
        };
        let mut routes = Vec::new();
        let mut shapes: HashMap<(http::Method, String), String> = HashMap::new();
        for service in pool.services().filter(|s| expose(s)) {
            for method in service.methods() {
                for binding in rule::bindings(&method, &ext)? {
                    let route = Route::new(&method, binding)?;
                    let key = (route.http_method.clone(), route.template.shape());
                    if let Some(first) = shapes.insert(key, method.full_name().to_owned()) {
                        return Err(TranscodeError::DuplicateRoute {
                            http_method: route.http_method,
                            template: route.raw_template,
                            first,
                            second: method.full_name().to_owned(),
                        });
                    }
                    routes.push(route);
                }
            }
        }
        Ok(Self { routes })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The routes of just these methods (full names), e.g. for a policy that singles them out
    /// and should not pay for matching every other route on every request.
    pub fn only(&self, methods: &[&str]) -> Self {
        let routes = self.routes.iter().filter(|r| methods.contains(&r.method.full_name())).cloned().collect();
        Self { routes }
    }

    /// `path` is the request's path without its query string, still percent-encoded.
    pub fn find<'a>(&'a self, method: &http::Method, path: &str) -> Match<'a> {
        self.search(method, path).0
    }

    /// The route `method` and `path` address, as [`RouteTable::find`] finds it, owned.
    pub fn routed(self: &Arc<Self>, method: &http::Method, path: &str) -> Option<Routed> {
        match self.search(method, path) {
            (Match::Found(found), Some(index)) => Some(Routed { table: self.clone(), index, bindings: found.bindings }),
            _ => None,
        }
    }

    /// The match, and the index of the route found.
    fn search<'a>(&'a self, method: &http::Method, path: &str) -> (Match<'a>, Option<usize>) {
        let Some(request) = RequestPath::parse(path) else {
            return (Match::NotFound, None);
        };
        let mut best: Option<(usize, RouteMatch<'a>)> = None;
        let mut allowed: Vec<http::Method> = Vec::new();
        for (index, route) in self.routes.iter().enumerate() {
            let Some(bindings) = route.template.match_request(&request) else {
                continue;
            };
            if route.http_method != *method {
                if !allowed.contains(&route.http_method) {
                    allowed.push(route.http_method.clone());
                }
                continue;
            }
            let better = match &best {
                None => true,
                Some((_, b)) => route.template.specificity() > b.route.template.specificity(),
            };
            if better {
                best = Some((index, RouteMatch { route, bindings }));
            }
        }
        match best {
            Some((index, found)) => (Match::Found(found), Some(index)),
            None if allowed.is_empty() => (Match::NotFound, None),
            None => (Match::MethodNotAllowed(allowed), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::transcode::testing::{pool, table};

    fn found(method: http::Method, path: &str) -> (String, Vec<(String, String)>) {
        match table().find(&method, path) {
            Match::Found(m) => {
                (m.route.method.full_name().to_owned(), m.bindings.into_iter().map(|(p, v)| (p.join("."), v)).collect())
            }
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    fn id(v: &str) -> Vec<(String, String)> {
        vec![("id".to_owned(), v.to_owned())]
    }

    #[test]
    fn builds_from_every_service_of_the_real_contracts() {
        let t = table();
        assert!(t.routes().len() >= 30, "only {} routes", t.routes().len());
        let rpcs: Vec<_> = t.routes().iter().map(|r| r.method.full_name()).collect();
        for rpc in [
            "mercato.catalog.v1.CatalogService.GetProduct",
            "mercato.orders.v1.OrderService.WatchOrder",
            "mercato.orders.v1.CartService.RemoveCartItem",
            "mercato.identity.v1.IdentityService.Refresh",
            "mercato.payments.v1.PaymentService.ListPayments",
            "mercato.shipping.v1.ShippingService.GetShipment",
            "mercato.notifications.v1.NotificationService.ListNotifications",
        ] {
            assert!(rpcs.contains(&rpc), "{rpc} has no route");
        }
        // Internal services carry no http rule and so never reach the edge.
        assert!(!rpcs.iter().any(|r| r.contains("StockService") || r.contains("ServiceAuthService")));
    }

    #[test]
    fn expose_filters_services() {
        let t = RouteTable::from_pool(&pool(), |s| s.full_name() == "mercato.catalog.v1.CatalogService").unwrap();
        assert!(t.routes().iter().all(|r| r.method.parent_service().name() == "CatalogService"));
        assert!(t.routes().len() >= 7, "{} catalog routes", t.routes().len());
    }

    #[test]
    fn finds_every_documented_route() {
        use http::Method as M;
        let cases = [
            (M::GET, "/v1/products", "CatalogService.ListProducts", vec![]),
            (M::GET, "/v1/products/p1", "CatalogService.GetProduct", id("p1")),
            (M::PATCH, "/v1/products/p1", "CatalogService.UpdateProduct", id("p1")),
            (M::POST, "/v1/products", "CatalogService.CreateProduct", vec![]),
            (M::POST, "/v1/products:batchGet", "CatalogService.BatchGetProducts", vec![]),
            (
                M::POST,
                "/v1/products/p1:adjustStock",
                "CatalogService.AdjustStock",
                vec![("product_id".into(), "p1".into())],
            ),
            (M::GET, "/v1/orders/o1", "OrderService.GetOrder", id("o1")),
            (M::GET, "/v1/orders/o1:watch", "OrderService.WatchOrder", id("o1")),
            (M::POST, "/v1/orders/o1:cancel", "OrderService.CancelOrder", id("o1")),
            (M::POST, "/v1/orders", "OrderService.PlaceOrder", vec![]),
            (M::GET, "/v1/cart", "CartService.GetCart", vec![]),
            (
                M::DELETE,
                "/v1/cart/items/p%2F1",
                "CartService.RemoveCartItem",
                vec![("product_id".into(), "p/1".into())],
            ),
            (M::POST, "/v1/sessions", "IdentityService.Login", vec![]),
            (M::POST, "/v1/sessions:refresh", "IdentityService.Refresh", vec![]),
            (M::GET, "/v1/users/me", "IdentityService.GetMe", vec![]),
            (M::PATCH, "/v1/users/me", "IdentityService.UpdateProfile", vec![]),
            (
                M::POST,
                "/v1/users/me/addresses/a1:setDefault",
                "IdentityService.SetDefaultAddress",
                vec![("address_id".into(), "a1".into())],
            ),
            (
                M::DELETE,
                "/v1/users/me/addresses/a1",
                "IdentityService.DeleteAddress",
                vec![("address_id".into(), "a1".into())],
            ),
            (M::GET, "/v1/jwks", "IdentityService.GetJwks", vec![]),
            (M::GET, "/v1/shipments/o1", "ShippingService.GetShipment", vec![("order_id".into(), "o1".into())]),
        ];
        for (method, path, rpc, bindings) in cases {
            let (got, got_bindings) = found(method.clone(), path);
            assert!(got.ends_with(rpc), "{method} {path} → {got}, want {rpc}");
            assert_eq!(got_bindings, bindings, "{method} {path}");
        }
    }

    #[test]
    fn a_colon_without_a_declared_verb_stays_in_the_value() {
        assert_eq!(
            found(http::Method::GET, "/v1/orders/a:b"),
            ("mercato.orders.v1.OrderService.GetOrder".into(), id("a:b"))
        );
        assert_eq!(
            found(http::Method::GET, "/v1/orders/a:b:watch"),
            ("mercato.orders.v1.OrderService.WatchOrder".into(), id("a:b"))
        );
        assert_eq!(
            found(http::Method::GET, "/v1/orders/a%3Awatch"),
            ("mercato.orders.v1.OrderService.GetOrder".into(), id("a:watch"))
        );
    }

    #[test]
    fn wrong_method_on_a_known_path_is_405_with_the_allowed_methods() {
        match table().find(&http::Method::DELETE, "/v1/products/p1") {
            Match::MethodNotAllowed(mut allowed) => {
                allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                assert_eq!(allowed, vec![http::Method::GET, http::Method::PATCH]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            table().find(&http::Method::GET, "/v1/orders/o1:cancel"),
            Match::Found(m) if m.route.method.name() == "GetOrder"
        ));
        assert!(matches!(
            table().find(&http::Method::GET, "/v1/cart/items"),
            Match::MethodNotAllowed(a) if a == vec![http::Method::POST]
        ));
        assert!(matches!(
            table().find(&http::Method::PUT, "/v1/orders/o1:cancel"),
            Match::MethodNotAllowed(a) if a.contains(&http::Method::POST) && a.contains(&http::Method::GET)
        ));
    }

    #[test]
    fn unknown_paths_are_404() {
        for path in [
            "/",
            "",
            "v1/products",
            "/v2/products",
            "/v1/products/",
            "/v1/products/a/b",
            "/v1//products",
            "/v1/cart/items/a/b",
        ] {
            assert!(matches!(table().find(&http::Method::GET, path), Match::NotFound), "{path}");
        }
    }

    #[test]
    fn a_route_found_once_is_labelled_by_its_template_and_resolves_in_its_own_table() {
        let t = Arc::new(table().clone());
        let routed = t.routed(&http::Method::GET, "/v1/products/p1").unwrap();
        assert_eq!(&*routed.route().label, "GET /v1/products/{id}");
        assert_eq!(
            &*t.routed(&http::Method::POST, "/v1/orders/o1:cancel").unwrap().route().label,
            "POST /v1/orders/{id}:cancel"
        );
        assert!(t.routed(&http::Method::DELETE, "/v1/products/p1").is_none());
        let other = Arc::new(table().clone());
        assert!(routed.clone().resolve(&other).is_none(), "an index is only good in its own table");
        let found = routed.resolve(&t).unwrap();
        assert_eq!(found.route.method.name(), "GetProduct");
        assert_eq!(found.bindings, vec![(vec!["id".to_string()], "p1".to_string())]);
    }

    #[test]
    fn grpc_path_names_service_and_method() {
        let Match::Found(m) = table().find(&http::Method::GET, "/v1/users/me") else { panic!() };
        assert_eq!(m.route.grpc_path, "/mercato.identity.v1.IdentityService/GetMe");
    }

    /// Characters a client may send in a segment value, including ones that need encoding.
    fn segment_value() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9:/%?#=&+ ._~\\-é中]{1,24}"
    }

    fn encode_segment(v: &str) -> String {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    /// A concrete path for a template: each variable replaced by its value.
    fn instantiate(raw: &str, value: &str) -> String {
        let mut out = String::new();
        let mut rest = raw;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').unwrap() + open;
            out.push_str(&encode_segment(value));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }

    proptest! {
        #[test]
        fn find_never_panics(method in "[A-Z]{1,8}", path in "\\PC{0,64}") {
            if let Ok(m) = http::Method::from_bytes(method.as_bytes()) {
                let _ = table().find(&m, &path);
            }
        }

        #[test]
        fn find_never_panics_on_path_like_input(path in "(/[a-z0-9:%{}*.]{0,8}){0,6}(:[a-zA-Z]{0,8})?") {
            let _ = table().find(&http::Method::GET, &path);
            let _ = table().find(&http::Method::POST, &path);
        }

        #[test]
        fn generated_paths_find_their_route_and_round_trip(index in 0usize..64, value in segment_value()) {
            let routes = table().routes();
            let route = &routes[index % routes.len()];
            let path = instantiate(&route.raw_template, &value);
            match table().find(&route.http_method, &path) {
                Match::Found(m) => {
                    prop_assert_eq!(m.route.method.full_name(), route.method.full_name(), "{}", path);
                    prop_assert_eq!(&m.route.raw_template, &route.raw_template);
                    for (_, bound) in &m.bindings {
                        prop_assert_eq!(bound, &value);
                    }
                    prop_assert_eq!(m.bindings.len(), route.template.variables().len());
                }
                other => prop_assert!(false, "{} {} → {:?}", route.http_method, path, other),
            }
        }
    }
}
