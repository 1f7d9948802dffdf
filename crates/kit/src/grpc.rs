//! The per-RPC tower layer every gRPC server runs: it settles the request id, opens the span
//! every log line of the call is written in, echoes the id to the caller, and records RED
//! metrics — including the final status of streams, which only their trailers carry.

use std::{
    fmt,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
    time::Instant,
};

use http::{HeaderValue, Request, Response};
use http_body::{Body, Frame};
use pin_project_lite::pin_project;
use tonic::Code;
use tower::{Layer, Service};
use tracing::{Instrument, Span};

use crate::{
    events::scope::{self, Correlation},
    metrics::GrpcMetrics,
    request_id::{self, RequestId},
    trace,
};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: Arc<GrpcMetrics>,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<GrpcMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner, metrics: self.metrics.clone() }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

impl<S> fmt::Debug for Observe<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe").field("metrics", &self.metrics).finish_non_exhaustive()
    }
}

/// What is needed to record the end of one call.
struct CallRecord {
    metrics: Arc<GrpcMetrics>,
    service: String,
    method: String,
    start: Instant,
    span: Span,
    done: bool,
    /// Reading the request failed: the caller reset the stream or closed the connection.
    caller_gone: Arc<AtomicBool>,
}

impl CallRecord {
    fn finish(&mut self, code: Code) {
        if self.done {
            return;
        }
        self.done = true;
        // tonic turns a request it could not read into INTERNAL (a reset stream) or UNKNOWN
        // (a closed connection). The caller going away is not the server failing: counted
        // as INTERNAL it would page whoever watches the 5xx rate.
        let code = match code {
            Code::Internal | Code::Unknown if self.caller_gone.load(Ordering::Relaxed) => Code::Cancelled,
            code => code,
        };
        let labels = [self.service.as_str(), self.method.as_str()];
        let elapsed = self.start.elapsed();
        self.metrics.in_flight.with_label_values(&labels).dec();
        self.metrics.handling_seconds.with_label_values(&labels).observe(elapsed.as_secs_f64());
        self.metrics.handled.with_label_values(&[labels[0], labels[1], code_name(code)]).inc();
        self.span.record("grpc.code", code_name(code));
        trace::record_server_code(&self.span, code);
        let _enter = self.span.enter();
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        match code {
            Code::Ok
            | Code::NotFound
            | Code::InvalidArgument
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::Unauthenticated
            | Code::PermissionDenied
            | Code::OutOfRange
            | Code::Cancelled => {
                tracing::debug!(code = code_name(code), micros, "rpc finished")
            }
            // An outage or an overload fails thousands of calls a second: a few lines say so.
            _ => {
                if let Some(suppressed) = self.metrics.failure_log.admit() {
                    tracing::warn!(code = code_name(code), micros, suppressed, "rpc failed");
                }
            }
        }
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        // The body went away before its trailers: the client cancelled or the connection died.
        self.finish(Code::Cancelled);
    }
}

impl<S, B, RB> Service<Request<B>> for Observe<S>
where
    S: Service<Request<ObservedRequest<B>>, Response = Response<RB>>,
    S::Future: Send + 'static,
    RB: Body,
{
    type Response = Response<ObservedBody<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let (id, header) = RequestId::settle(&mut req);
        let caller_gone = Arc::new(AtomicBool::new(false));
        let gone = caller_gone.clone();
        let req = req.map(move |inner| ObservedRequest { inner, gone, framing: Framing::default() });
        let (service, method) = split_path(req.uri().path());
        let parent = trace::extract(&trace::propagate::Headers(req.headers()));
        let span = if trace::sampled(&parent) {
            // The same fields, plus what OpenTelemetry's semantic conventions for RPC ask.
            let span = tracing::info_span!(
                target: trace::TARGET,
                "rpc",
                otel.name = %format_args!("{service}/{method}"),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                rpc.system = "grpc",
                rpc.service = service.as_str(),
                rpc.method = method.as_str(),
                rpc.grpc.status_code = tracing::field::Empty,
                request_id = id.as_str(),
                rpc = %format_args!("{service}/{method}"),
                grpc.code = tracing::field::Empty,
                caller = tracing::field::Empty,
                user_id = tracing::field::Empty,
            );
            trace::set_parent(&span, parent);
            span
        } else {
            tracing::info_span!(
                "rpc",
                request_id = id.as_str(),
                rpc = %format_args!("{service}/{method}"),
                grpc.code = tracing::field::Empty,
                caller = tracing::field::Empty,
            )
        };

        let labels = [service.as_str(), method.as_str()];
        self.metrics.started.with_label_values(&labels).inc();
        self.metrics.in_flight.with_label_values(&labels).inc();
        let mut record = CallRecord {
            metrics: self.metrics.clone(),
            service,
            method,
            start: Instant::now(),
            span: span.clone(),
            done: false,
            caller_gone,
        };
        // Events the call's handler publishes carry its request id and trace context.
        let correlation = Correlation {
            request_id: Some(id.as_str().to_string()),
            traceparent: req.headers().get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_string),
        };
        // Calls the handler makes downstream give up when its caller does.
        let deadline = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::deadline::parse_grpc_timeout)
            .map(|timeout| tokio::time::Instant::now() + timeout);
        let future = span.in_scope(|| self.inner.call(req));
        Box::pin(
            async move {
                let response = scope::with(correlation, crate::deadline::with(deadline, future)).await;
                let mut response = match response {
                    Ok(response) => response,
                    Err(e) => {
                        record.finish(Code::Internal);
                        return Err(e);
                    }
                };
                if let Some(value) = header {
                    response.headers_mut().insert(request_id::HEADER, value);
                }
                // A "trailers-only" response (most errors) carries its status in the headers.
                let early = response.headers().get("grpc-status").map(status_of);
                if let Some(code) = early {
                    record.finish(code);
                }
                Ok(response.map(|body| ObservedBody { inner: body, record: Some(record) }))
            }
            .instrument(span),
        )
    }
}

pin_project! {
    /// A request body that notes when the caller went away while sending it (see
    /// [`CallRecord::finish`]): reading it failed (a reset stream, a closed connection), or it
    /// ended inside a gRPC message (a reset with NO_ERROR ends it early rather than failing).
    pub struct ObservedRequest<B> {
        #[pin]
        inner: B,
        gone: Arc<AtomicBool>,
        framing: Framing,
    }
}

/// Where the request is in gRPC's length-prefixed messages: 5 header bytes (flag, length),
/// then the message.
#[derive(Debug, Default)]
struct Framing {
    header: [u8; 5],
    header_len: usize,
    message_left: u64,
}

impl Framing {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.message_left > 0 {
                let take = usize::try_from(self.message_left).unwrap_or(usize::MAX).min(bytes.len());
                self.message_left -= take as u64;
                bytes = &bytes[take..];
                continue;
            }
            let take = (5 - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            if self.header_len == 5 {
                let [_, a, b, c, d] = self.header;
                self.message_left = u64::from(u32::from_be_bytes([a, b, c, d]));
                self.header_len = 0;
            }
        }
    }

    fn inside_a_message(&self) -> bool {
        self.header_len > 0 || self.message_left > 0
    }
}

impl<B: Body> Body for ObservedRequest<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        use bytes::Buf;
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let mut slices = [std::io::IoSlice::new(&[]); 16];
                    let filled = data.chunks_vectored(&mut slices);
                    let seen: usize = slices[..filled].iter().map(|s| s.len()).sum();
                    if seen < data.remaining() {
                        // More pieces than we look at: we can no longer tell where messages end.
                        *this.framing = Framing::default();
                    } else {
                        slices[..filled].iter().for_each(|slice| this.framing.feed(slice));
                    }
                }
            }
            Some(Err(_)) => this.gone.store(true, Ordering::Relaxed),
            None if this.framing.inside_a_message() => this.gone.store(true, Ordering::Relaxed),
            None => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// A response body that records the call when its trailers (the gRPC status) go by.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        record: Option<CallRecord>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(mut record) = this.record.take()
                {
                    record.finish(trailers.get("grpc-status").map_or(Code::Unknown, status_of));
                }
            }
            Some(Err(_)) => {
                if let Some(mut record) = this.record.take() {
                    record.finish(Code::Internal);
                }
            }
            None => {
                // Ended without trailers: the status was in the headers (already recorded).
                if let Some(mut record) = this.record.take() {
                    record.finish(Code::Ok);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn status_of(value: &HeaderValue) -> Code {
    value.to_str().ok().and_then(|s| s.parse::<i32>().ok()).map_or(Code::Unknown, Code::from_i32)
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`).
fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((service, method)) if !service.is_empty() && !method.is_empty() => (service.into(), method.into()),
        _ => ("unknown".into(), "unknown".into()),
    }
}

/// Canonical upper-case names, as in grpc-go and Prometheus dashboards.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_knows_when_a_request_stops_inside_a_message() {
        let mut framing = Framing::default();
        framing.feed(&[0, 0, 0, 0, 3, 1, 2]);
        assert!(framing.inside_a_message());
        framing.feed(&[3, 0, 0]);
        assert!(framing.inside_a_message(), "a second header, half sent");
        framing.feed(&[0, 0, 0]);
        assert!(!framing.inside_a_message(), "an empty message ends at its header");
        framing.feed(&[0, 0, 0, 0, 1, 9]);
        assert!(!framing.inside_a_message());
    }

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/mercato.catalog.v1.CatalogService/GetProduct"),
            ("mercato.catalog.v1.CatalogService".into(), "GetProduct".into())
        );
        assert_eq!(split_path("/"), ("unknown".into(), "unknown".into()));
    }
}
