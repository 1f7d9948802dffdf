//! Request id, span, RED metrics and the access log at the edge.
//!
//! A well-formed `X-Request-Id` is kept, anything else replaced; the id is put on the request
//! (so it travels upstream as gRPC metadata) and echoed on the response. Every log line inside
//! the request's span carries it.
//!
//! A failure of ours or of an upstream (HTTP 5xx, or a gRPC status that maps to one) is logged
//! at warn with its cause, so that the 503s of an outage are visible at the default level —
//! at most [`FAILURES_PER_SECOND`] lines a second, each saying how many were left out before it.

use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use http::{Request, Response};
use mercato_kit::{
    log_budget::LogBudget,
    request_id::{self, RequestId},
    trace,
};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tower::{Layer, Service};
use tracing::Instrument;

use super::{kind::Kind, route::EdgeRoutes};

/// Warn lines about failed requests per second, at most; the rest are counted.
pub const FAILURES_PER_SECOND: u32 = 10;

/// Which requests get an access-log line (`--access-log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLog {
    /// Every request, at info (failures at warn, as below).
    All,
    /// Only failures of ours or of an upstream, at warn, at most [`FAILURES_PER_SECOND`].
    /// The default: at 10,000 requests a second, a line each was about a tenth of the
    /// gateway's CPU (reads-bench), and the RED metrics count every request anyway.
    Failures,
}

impl std::str::FromStr for AccessLog {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "all" => Ok(Self::All),
            "failures" => Ok(Self::Failures),
            other => Err(format!("{other:?} is neither `all` nor `failures`")),
        }
    }
}

/// Why the edge answered a request with a failure, put on the response (never sent) by
/// whoever made it, for the warn line.
#[derive(Debug, Clone)]
pub struct FailureCause(pub String);

/// Edge RED metrics, by request kind, route (see [`EdgeRoutes`]) and HTTP status.
#[derive(Debug)]
pub struct EdgeMetrics {
    requests: IntCounterVec,
    seconds: HistogramVec,
    failure_log: LogBudget,
    access_log: AccessLog,
}

impl EdgeMetrics {
    pub fn register(registry: &Registry, access_log: AccessLog) -> anyhow::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("http_server_requests_total", "Requests through the edge, by kind, route and HTTP status."),
            &["kind", "route", "status"],
        )?;
        let seconds = HistogramVec::new(
            HistogramOpts::new("http_server_request_duration_seconds", "Time to response headers at the edge.")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["kind", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        let failure_log = LogBudget::per_second(FAILURES_PER_SECOND);
        Ok(Self { requests, seconds, failure_log, access_log })
    }
}

#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: Arc<EdgeMetrics>,
    routes: Arc<EdgeRoutes>,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<EdgeMetrics>, routes: Arc<EdgeRoutes>) -> Self {
        Self { metrics, routes }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, metrics: self.metrics.clone(), routes: self.routes.clone() }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<EdgeMetrics>,
    routes: Arc<EdgeRoutes>,
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
        // Here, before any policy below can refuse the request, so a refusal has its route too.
        let route = self.routes.label(kind, &mut req);
        let span = edge_span(&mut req, &id, kind, &route);
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
                if trace::in_sampled_span() {
                    record_outcome(&tracing::Span::current(), &mut response);
                }
                let elapsed = start.elapsed();
                metrics.requests.with_label_values(&[kind.label(), &*route, status.as_str()]).inc();
                metrics.seconds.with_label_values(&[kind.label(), &*route]).observe(elapsed.as_secs_f64());
                let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                match failure_of(&response) {
                    Some(cause) => {
                        if let Some(suppressed) = metrics.failure_log.admit() {
                            tracing::warn!(status = status.as_u16(), micros, cause, suppressed, "request failed");
                        }
                    }
                    None if metrics.access_log == AccessLog::All => {
                        tracing::info!(status = status.as_u16(), micros, "request")
                    }
                    None => {}
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The request's span: with tracing on, a server span under the caller's trace context (or
/// the root of a new trace), named and described as the HTTP semantic conventions say.
fn edge_span<B>(req: &mut Request<B>, id: &RequestId, kind: Kind, route: &str) -> tracing::Span {
    let parent = trace::extract(&trace::propagate::Headers(req.headers()));
    if !trace::sampled(&parent) {
        if trace::enabled() && !trace::propagate::is_valid(&parent) {
            // Not sampled here, so not behind either: the services get a trace context that
            // says so instead of none (from which each would start, and sample, its own).
            if let Ok(value) = http::HeaderValue::from_str(&trace::propagate::unsampled_traceparent()) {
                req.headers_mut().insert(trace::propagate::TRACEPARENT, value);
            }
        }
        let method = req.method();
        // Field values are only formatted when the span is enabled.
        return tracing::info_span!("edge", request_id = id.as_str(), kind = kind.label(), %method, path = %req.uri().path());
    }
    let method = req.method();
    // A REST route's label is `VERB /template`; a gRPC one's the method's path.
    let template = route.strip_prefix(method.as_str()).map_or(route, str::trim_start);
    let span = tracing::info_span!(
        target: trace::TARGET,
        "edge",
        otel.name = route,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = template,
        url.path = %req.uri().path(),
        http.response.status_code = tracing::field::Empty,
        rpc.grpc.status_code = tracing::field::Empty,
        request_id = id.as_str(),
        kind = kind.label(),
        %method,
        path = %req.uri().path(),
    );
    trace::set_parent(&span, parent);
    span
}

/// The response's status on `span`, and `traceparent` on the response, so a caller can name
/// the trace of a request they report.
fn record_outcome<B>(span: &tracing::Span, response: &mut Response<B>) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    match trailers_only_code(response) {
        Some(code) => trace::record_server_code(span, code),
        None if status.is_server_error() => {
            span.record("otel.status_code", "error");
        }
        None => {}
    }
    if let Some(value) = trace::traceparent_of(span).and_then(|v| http::HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(trace::propagate::TRACEPARENT, value);
    }
}

/// The gRPC status a trailers-only response carries in its headers (most errors), if any.
fn trailers_only_code<B>(response: &Response<B>) -> Option<tonic::Code> {
    let code = response.headers().get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(tonic::Code::from_i32(code))
}

/// The cause of a failed response: HTTP 5xx, or a gRPC answer whose status (in the headers of
/// a trailers-only response) is one a client would see as the server's fault.
fn failure_of<B>(response: &Response<B>) -> Option<String> {
    let cause = response.extensions().get::<FailureCause>().map(|c| c.0.clone());
    if response.status().is_server_error() {
        return Some(cause.unwrap_or_else(|| response.status().to_string()));
    }
    let code = trailers_only_code(response)?;
    use tonic::Code as C;
    if !matches!(
        code,
        C::Unknown
            | C::DeadlineExceeded
            | C::ResourceExhausted
            | C::Unimplemented
            | C::Internal
            | C::Unavailable
            | C::DataLoss
    ) {
        return None;
    }
    let message = response.headers().get("grpc-message").and_then(|m| m.to_str().ok()).unwrap_or_default();
    Some(cause.unwrap_or_else(|| format!("{}: {message}", mercato_kit::grpc::code_name(code))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_settings_parse() {
        assert_eq!("all".parse::<AccessLog>(), Ok(AccessLog::All));
        assert_eq!("failures".parse::<AccessLog>(), Ok(AccessLog::Failures));
        assert!("some".parse::<AccessLog>().unwrap_err().contains("\"some\""));
    }

    #[test]
    fn server_errors_and_their_grpc_equivalents_are_failures() {
        let response = |status: u16, grpc: Option<&str>| {
            let mut builder = Response::builder().status(status);
            if let Some(code) = grpc {
                builder = builder.header("grpc-status", code).header("grpc-message", "upstream unavailable");
            }
            builder.body(()).unwrap()
        };
        assert!(failure_of(&response(503, None)).is_some());
        assert_eq!(failure_of(&response(200, Some("14"))).as_deref(), Some("UNAVAILABLE: upstream unavailable"));
        assert!(failure_of(&response(200, Some("5"))).is_none(), "NOT_FOUND is the caller's business");
        assert!(failure_of(&response(404, None)).is_none());
        let mut with_cause = response(503, None);
        with_cause.extensions_mut().insert(FailureCause("catalog: connection refused".into()));
        assert_eq!(failure_of(&with_cause).as_deref(), Some("catalog: connection refused"));
    }
}
