//! REST/JSON requests, transcoded to the gRPC method their path names (the routes come from
//! the contracts' `google.api.http` annotations; none is written by hand).

use std::{fmt, sync::Arc, time::Duration};

use axum::{body::Body, extract::State, response::IntoResponse};
use http::{HeaderValue, Request, Response, StatusCode, header};
use mercato_kit::client::Idempotency;
use tonic::Status;

use crate::{
    mesh::Mesh,
    policy::{auth::challenge, kind::client_ip},
    sse, transcode,
    transcode::{Match, RouteTable, Routed},
    upstream,
};

/// What REST handling needs, shared by every request.
pub struct Rest {
    pub mesh: Arc<Mesh>,
    pub routes: Arc<RouteTable>,
    pub timeout: Duration,
    pub max_body: usize,
    pub trust_forwarded_for: bool,
}

/// The route table is left out: its descriptors print every message of the contracts in full.
impl fmt::Debug for Rest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rest")
            .field("mesh", &self.mesh)
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .finish_non_exhaustive()
    }
}

pub async fn handle(State(rest): State<Arc<Rest>>, req: Request<Body>) -> Response<Body> {
    let ip = client_ip(&req, rest.trust_forwarded_for);
    let (mut parts, body) = req.into_parts();
    // The edge found the route already (policy::route); a request that did not pass there,
    // or matched nothing, is looked up here.
    let routed = parts.extensions.remove::<Routed>().and_then(|routed| routed.resolve(&rest.routes));
    let found = match routed.map_or_else(|| rest.routes.find(&parts.method, parts.uri.path()), Match::Found) {
        Match::Found(found) => found,
        Match::MethodNotAllowed(allowed) => {
            let mut response = rest.error(&Status::unimplemented(format!("{} is not allowed here", parts.method)));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            let allow: Vec<&str> = allowed.iter().map(http::Method::as_str).collect();
            if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return response;
        }
        Match::NotFound => {
            return rest.error(&Status::not_found(format!("no route for {} {}", parts.method, parts.uri.path())));
        }
    };
    let bytes = match axum::body::to_bytes(body, rest.max_body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let mut response =
                rest.error(&Status::invalid_argument(format!("request body larger than {} bytes", rest.max_body)));
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return response;
        }
    };
    let message = match transcode::build_request(&found, parts.uri.query(), &bytes).and_then(|mut message| {
        transcode::idempotency::apply(&mut message, &parts.headers)?;
        Ok(message)
    }) {
        Ok(message) => message,
        Err(e) => return rest.error(&e.to_status()),
    };
    let route = found.route;
    let method = &route.method;
    let service = method.parent_service();
    if route.server_streaming {
        let channel = match rest.mesh.channel_for(service.full_name()) {
            Ok(channel) => channel,
            Err(unserved) => return rest.error(&unserved.status(service.full_name())),
        };
        let metadata = upstream::forward_metadata(&parts.headers);
        return match upstream::server_streaming(channel, method, message, metadata).await {
            Ok(stream) => sse::respond(&parts.headers, rest.mesh.clone(), route.clone(), stream),
            Err(status) => rest.error(&status),
        };
    }
    let client = match rest.mesh.unary_for(service.full_name()) {
        Ok(client) => client,
        Err(unserved) => return rest.error(&unserved.status(service.full_name())),
    };
    let headers = upstream::forward_headers(&parts.headers);
    match upstream::unary(
        &client,
        &route.grpc_path,
        method,
        &message,
        headers,
        rest.timeout,
        // A request with an idempotency key is as safe to repeat as a GET: that is its point.
        if transcode::idempotency::carries_key(&message) {
            Idempotency::Idempotent
        } else {
            upstream::idempotency_of(&route.http_method)
        },
    )
    .await
    {
        Ok(reply) => match transcode::response_json(route, &reply) {
            Ok(json) => json_response(StatusCode::OK, json),
            Err(e) => rest.error(&e.to_status()),
        },
        Err(status) => {
            if method.full_name() == "mercato.identity.v1.IdentityService.Login"
                && status.code() == tonic::Code::Unauthenticated
            {
                // Who tried, never with what: the body (and its password) is not logged.
                tracing::info!(client_ip = ?ip, "failed login");
            }
            rest.error(&status)
        }
    }
}

impl Rest {
    /// A gRPC status as REST: grpc-gateway's HTTP code and a google.rpc.Status JSON body.
    pub fn error(&self, status: &Status) -> Response<Body> {
        let mut response =
            json_response(transcode::http_status(status.code()), transcode::error_json(self.mesh.pool(), status));
        if status.code() == tonic::Code::Unauthenticated {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge(None));
        }
        if response.status().is_server_error() {
            let cause = format!("{}: {}", mercato_kit::grpc::code_name(status.code()), status.message());
            response.extensions_mut().insert(crate::policy::observe::FailureCause(cause));
        }
        response
    }
}

pub fn json_response(code: StatusCode, json: Vec<u8>) -> Response<Body> {
    let mut response = (code, json).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
