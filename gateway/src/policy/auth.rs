//! Authentication at the edge: a bearer token is verified with identity's keys (the kit's
//! verifier) before anything is forwarded; a bad one is refused here with 401 and
//! `WWW-Authenticate` (or UNAUTHENTICATED for gRPC). No token: the request goes on, and the
//! service's own policy decides (public routes need none). The token itself is forwarded, so
//! services verify it again (defence in depth) and act for the user.

use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderValue, Request, Response, header};
use mercato_kit::auth::{AuthError, Verifier, layer::bearer_token};
use tonic::Status;
use tower::{Layer, Service};

use super::kind::{Kind, refuse};

#[derive(Debug, Clone)]
pub struct EdgeAuthLayer(pub Arc<Verifier>);

impl<S> Layer<S> for EdgeAuthLayer {
    type Service = EdgeAuth<S>;
    fn layer(&self, inner: S) -> EdgeAuth<S> {
        EdgeAuth { inner, verifier: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct EdgeAuth<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

impl<S> fmt::Debug for EdgeAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeAuth").field("verifier", &self.verifier).finish_non_exhaustive()
    }
}

/// `WWW-Authenticate` for a refused or missing token (RFC 6750).
pub fn challenge(error: Option<&str>) -> HeaderValue {
    let value = match error {
        Some(description) => {
            let safe: String = description.chars().filter(|c| *c != '"' && !c.is_control()).collect();
            format!(r#"Bearer realm="mercato", error="invalid_token", error_description="{safe}""#)
        }
        None => r#"Bearer realm="mercato""#.to_string(),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(r#"Bearer realm="mercato""#))
}

impl<S, B> Service<Request<B>> for EdgeAuth<S>
where
    S: Service<Request<B>, Response = Response<axum::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return Box::pin(self.inner.call(req));
        };
        let token = bearer_token(value);
        let kind = Kind::of(req.headers());
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let result = match token {
                Some(token) => verifier.verify(&token).await,
                None => Err(AuthError::Malformed),
            };
            match result {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(AuthError::KeysUnavailable) => {
                    Ok(refuse(kind, &Status::unavailable("cannot verify tokens right now; retry shortly")))
                }
                Err(e) => {
                    tracing::info!(reason = %e, "token refused at the edge");
                    let mut response = refuse(kind, &Status::unauthenticated(e.to_string()));
                    if kind == Kind::Rest {
                        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge(Some(&e.to_string())));
                    }
                    Ok(response)
                }
            }
        })
    }
}
