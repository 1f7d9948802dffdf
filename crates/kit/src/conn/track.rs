//! Tells a connection's watchdog which requests are in flight on it: from the request's start
//! until its response body is done (a stream being sent is not an idle connection).

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http_body::{Body, Frame};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{ConnInfo, InFlight};

/// For tonic servers: finds the connection in the request's extensions (see
/// [`super::Conn`]'s `Connected`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackLayer;

impl<S> Layer<S> for TrackLayer {
    type Service = TrackService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrackService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct TrackService<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for TrackService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Tracked<R>>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let in_flight = req.extensions().get::<ConnInfo>().map(|info| info.activity.begin());
        let future = self.inner.call(req);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|body| Tracked::new(body, in_flight)))
        })
    }
}

pin_project! {
    /// A response body that holds its request's [`InFlight`] until it ends.
    pub struct Tracked<B> {
        #[pin]
        inner: B,
        in_flight: Option<InFlight>,
    }
}

impl<B> Tracked<B> {
    pub fn new(inner: B, in_flight: Option<InFlight>) -> Self {
        Self { inner, in_flight }
    }
}

impl<B: Body> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(None | Some(Err(_))) = frame {
            this.in_flight.take();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
