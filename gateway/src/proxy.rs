//! Native gRPC (and, behind tonic-web, grpc-web) forwarded to the owning service as it came:
//! frames are not decoded or re-encoded. The gateway answers reflection and health itself.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderValue, Request, Response};
use tonic::{Status, body::Body, service::Routes};
use tower::{Service, ServiceExt};

use crate::mesh::Mesh;

#[derive(Debug, Clone)]
pub struct GrpcProxy {
    mesh: Arc<Mesh>,
    /// Reflection and health, served here rather than forwarded.
    local: Routes,
    deadline: Duration,
}

impl GrpcProxy {
    pub fn new(mesh: Arc<Mesh>, local: Routes, deadline: Duration) -> Self {
        Self { mesh, local, deadline }
    }
}

impl<B> Service<Request<B>> for GrpcProxy
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let service = req.uri().path().trim_start_matches('/').split('/').next().unwrap_or_default().to_string();
        if service.starts_with("grpc.reflection.") || service == "grpc.health.v1.Health" {
            let local = self.local.clone();
            return Box::pin(async move {
                let response = local.oneshot(req.map(Body::new)).await;
                Ok(response.unwrap_or_else(|e: Infallible| match e {}))
            });
        }
        let (channel, unary) = match self.mesh.pass_through_for(&service) {
            Ok(found) => found,
            Err(unserved) => {
                let status = unserved.status(&service);
                return Box::pin(async move { Ok(status.into_http()) });
            }
        };
        let timeout = cap_deadline(req.headers_mut(), self.deadline);
        // Tracing on: the upstream's parent is this request's span, not the caller's.
        mercato_kit::trace::inject_headers(&tracing::Span::current(), req.headers_mut());
        // Through the upstream's bulkhead, breaker and deadline (to its response headers: a
        // stream may then last); once only, since the request body streams through, unkept.
        Box::pin(async move {
            let forwarded = unary.downstream().call_once(timeout, |_| async move {
                match channel.oneshot(req.map(|b| Body::new(NoSizeHint { inner: b }))).await {
                    Ok(response) => match trailers_only_failure(&response) {
                        Some(status) => Err(status),
                        None => Ok(response),
                    },
                    Err(e) => Err(Status::unavailable(format!("{service} is unavailable: {e}"))),
                }
            });
            Ok(forwarded.await.unwrap_or_else(Status::into_http))
        })
    }
}

pin_project_lite::pin_project! {
    /// Forwards a body without its size hint. grpc-web-text bodies shrink when tonic-web
    /// decodes their base64, but the hint still reports the encoded length; passed on, it
    /// becomes a content-length the upstream then sees violated.
    struct NoSizeHint<B> {
        #[pin]
        inner: B,
    }
}

impl<B: http_body::Body> http_body::Body for NoSizeHint<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

/// Sets `grpc-timeout` to the edge deadline unless the client asked for less; returns it.
pub fn cap_deadline(headers: &mut http::HeaderMap, edge: Duration) -> Duration {
    let client =
        headers.get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(mercato_kit::deadline::parse_grpc_timeout);
    let deadline = client.map_or(edge, |c| c.min(edge));
    if let Ok(value) = HeaderValue::from_str(&format!("{}m", deadline.as_millis().max(1))) {
        headers.insert("grpc-timeout", value);
    }
    deadline
}

/// The status of a failed call answered in its headers alone (how a server that fails before
/// any message answers), for the breaker to count; the answer is rebuilt from it, losing only
/// custom metadata of the failure.
fn trailers_only_failure<B>(response: &http::Response<B>) -> Option<Status> {
    Status::from_header_map(response.headers()).filter(|status| status.code() != tonic::Code::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_capped_at_the_edge() {
        let mut headers = http::HeaderMap::new();
        cap_deadline(&mut headers, Duration::from_secs(30));
        assert_eq!(headers["grpc-timeout"], "30000m");
        headers.insert("grpc-timeout", HeaderValue::from_static("5S"));
        cap_deadline(&mut headers, Duration::from_secs(30));
        assert_eq!(headers["grpc-timeout"], "5000m");
        headers.insert("grpc-timeout", HeaderValue::from_static("1H"));
        cap_deadline(&mut headers, Duration::from_secs(30));
        assert_eq!(headers["grpc-timeout"], "30000m");
    }
}
