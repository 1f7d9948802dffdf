//! Request id, span, RED metrics and one access-log line per request at the edge.
//!
//! A well-formed `X-Request-Id` is kept, anything else replaced; the id is put on the request
//! (so it travels upstream as gRPC metadata) and echoed on the response. Every log line inside
//! the request's span carries it.

use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use http::{Request, Response};
use mercato_kit::request_id::{self, RequestId};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tower::{Layer, Service};
use tracing::Instrument;

use super::kind::Kind;

/// Edge RED metrics, by request kind and HTTP status.
#[derive(Debug)]
pub struct EdgeMetrics {
    requests: IntCounterVec,
    seconds: HistogramVec,
}

impl EdgeMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("http_server_requests_total", "Requests through the edge, by kind and HTTP status."),
            &["kind", "method", "status"],
        )?;
        let seconds = HistogramVec::new(
            HistogramOpts::new("http_server_request_duration_seconds", "Time to response headers at the edge.")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["kind"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        Ok(Self { requests, seconds })
    }
}

#[derive(Debug, Clone)]
pub struct ObserveLayer(pub Arc<EdgeMetrics>);

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, metrics: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<EdgeMetrics>,
}

impl<S> fmt::Debug for Observe<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe").field("metrics", &self.metrics).finish_non_exhaustive()
    }
}

impl<S, B, RB> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let (id, header) = RequestId::settle(&mut req);
        let kind = Kind::of(req.headers());
        let method = req.method().clone();
        // Field values are only formatted when the span is enabled.
        let span = tracing::info_span!("edge", request_id = id.as_str(), kind = kind.label(), %method, path = %req.uri().path());
        let start = Instant::now();
        let metrics = self.metrics.clone();
        let future = span.in_scope(|| self.inner.call(req));
        Box::pin(
            async move {
                let mut response = future.await?;
                if let Some(value) = header {
                    response.headers_mut().insert(request_id::HEADER, value);
                }
                let status = response.status();
                let elapsed = start.elapsed();
                metrics.requests.with_label_values(&[kind.label(), method.as_str(), status.as_str()]).inc();
                metrics.seconds.with_label_values(&[kind.label()]).observe(elapsed.as_secs_f64());
                let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                tracing::info!(status = status.as_u16(), micros, "request");
                Ok(response)
            }
            .instrument(span),
        )
    }
}
