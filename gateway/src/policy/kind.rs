//! What kind of request this is decides how an edge refusal is shaped: JSON for REST, a
//! trailers-only status for gRPC and grpc-web (their clients read `grpc-status`, not the HTTP
//! code).

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use tonic::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rest,
    Grpc,
    GrpcWeb,
}

impl Kind {
    pub fn of(headers: &HeaderMap) -> Self {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if content_type.starts_with("application/grpc-web") {
            Self::GrpcWeb
        } else if content_type.starts_with("application/grpc") {
            Self::Grpc
        } else {
            Self::Rest
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Grpc => "grpc",
            Self::GrpcWeb => "grpc-web",
        }
    }
}

/// The peer address of the connection a request came on (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The client's IP: the peer, or the first X-Forwarded-For hop when that header is trusted.
pub fn client_ip<B>(req: &Request<B>, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|ip| ip.trim().parse().ok())
    {
        return Some(ip);
    }
    req.extensions().get::<Peer>().map(|p| p.0.ip())
}

/// A refusal shaped for `kind`. REST gets the google.rpc.Status JSON body and the HTTP code
/// grpc-gateway would use.
pub fn refuse(kind: Kind, status: &Status) -> Response<axum::body::Body> {
    match kind {
        Kind::Grpc | Kind::GrpcWeb => {
            let mut response = status.clone().into_http::<axum::body::Body>();
            if kind == Kind::GrpcWeb
                && let Ok(value) = HeaderValue::from_str("application/grpc-web+proto")
            {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
        Kind::Rest => {
            let body = serde_json::json!({"code": status.code() as i32, "message": status.message(), "details": []});
            let mut response = Response::new(axum::body::Body::from(body.to_string()));
            *response.status_mut() = crate::transcode::http_status(status.code());
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
    }
}

/// The HTTP code a REST client sees for `status` (used for metrics of gRPC calls too).
pub fn rest_code(status: &Status) -> StatusCode {
    crate::transcode::http_status(status.code())
}
