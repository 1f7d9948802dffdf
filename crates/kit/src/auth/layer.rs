//! The tower layer that authenticates every gRPC call: no `authorization` metadata → the call
//! proceeds anonymously (its policy decides); a bearer token → verified, and the [`Caller`]
//! lands in the request extensions; anything else → UNAUTHENTICATED before the handler runs.

use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tonic::Status;
use tower::{Layer, Service};

use super::verifier::{AuthError, Verifier};

#[derive(Debug, Clone)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Auth { inner, verifier: self.verifier.clone() }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

impl<S> fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth").field("verifier", &self.verifier).finish_non_exhaustive()
    }
}

impl<S, B, RB> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(header) = req.headers().get(http::header::AUTHORIZATION) else {
            return Box::pin(self.inner.call(req));
        };
        let token = bearer_token(header);
        // The ready inner service goes with this call; a fresh clone stays for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let Some(token) = token else {
                return Ok(refuse("authorization must be `Bearer <token>`"));
            };
            match verifier.verify(&token).await {
                Ok(caller) => {
                    let span = tracing::Span::current();
                    span.record("caller", caller.subject.as_str());
                    if caller.kind == super::CallerKind::User {
                        span.record("user_id", caller.subject.as_str());
                    }
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(AuthError::KeysUnavailable) => {
                    Ok(Status::unavailable("cannot verify tokens right now: signing keys unavailable").into_http())
                }
                Err(e) => {
                    tracing::info!(reason = %e, "token refused");
                    Ok(refuse(&e.to_string()))
                }
            }
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header; `None` for any other scheme.
pub fn bearer_token(header: &http::HeaderValue) -> Option<String> {
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
}

fn refuse<RB: Default>(message: &str) -> Response<RB> {
    Status::unauthenticated(message.to_string()).into_http()
}
