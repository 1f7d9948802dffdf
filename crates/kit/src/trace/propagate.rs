//! W3C trace context (`traceparent`, `tracestate`) in and out of whatever carries it: HTTP
//! and gRPC headers, NATS headers, the outbox row's stored headers.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// The context `carrier` brings (invalid when it brings none, or tracing is off).
pub fn extract(carrier: &dyn Extractor) -> Context {
    if !super::enabled() {
        return Context::new();
    }
    TraceContextPropagator::new().extract(carrier)
}

/// Whether `context` (from [`extract`]) names a trace at all.
pub fn is_valid(context: &Context) -> bool {
    context.span().span_context().is_valid()
}

/// Makes `parent` (from [`extract`]) the parent of `span`, a recorded span not yet entered;
/// an invalid `parent` leaves `span` the root of a new trace.
pub fn set_parent(span: &tracing::Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        // Fails only for a span that has already started: then it keeps its parent.
        let _ = span.set_parent(parent);
    }
}

/// A `traceparent` that starts a trace which is not recorded (flags 00): what the edge passes
/// on for a request it did not sample, so that the services behind it do not sample it either.
pub fn unsampled_traceparent() -> String {
    let (trace, span): (u128, u64) = (rand::random::<u128>() | 1, rand::random::<u64>() | 1);
    format!("00-{trace:032x}-{span:016x}-00")
}

/// The context of `span` as `(header, value)` pairs: nothing when tracing is off.
pub fn context_of(span: &tracing::Span) -> Vec<(&'static str, String)> {
    if !super::enabled() {
        return Vec::new();
    }
    let mut pairs = Pairs(Vec::with_capacity(2));
    TraceContextPropagator::new().inject_context(&span.context(), &mut pairs);
    pairs.0
}

/// `span`'s `traceparent`, to return to a caller.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    context_of(span).into_iter().find(|(name, _)| *name == TRACEPARENT).map(|(_, value)| value)
}

/// Puts the context of `span` into `headers` (replacing any there), when tracing is on.
pub fn inject_headers(span: &tracing::Span, headers: &mut http::HeaderMap) {
    for (name, value) in context_of(span) {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// The same into tonic metadata.
pub fn inject_metadata(span: &tracing::Span, metadata: &mut tonic::metadata::MetadataMap) {
    for (name, value) in context_of(span) {
        if let Ok(value) = value.parse() {
            metadata.insert(name, value);
        }
    }
}

/// The trace and span ids of the active OpenTelemetry context, hex-encoded as in
/// `traceparent`: for log lines.
pub fn active_ids() -> Option<(String, String)> {
    let cx = Context::current();
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| (context.trace_id().to_string(), context.span_id().to_string()))
}

/// Collects what the propagator injects.
struct Pairs(Vec<(&'static str, String)>);

impl Injector for Pairs {
    fn set(&mut self, key: &str, value: String) {
        // The propagator only writes its own two fields.
        let key = match key {
            TRACEPARENT => TRACEPARENT,
            TRACESTATE => TRACESTATE,
            _ => return,
        };
        self.0.push((key, value));
    }
}

/// HTTP and gRPC headers as a carrier.
#[derive(Debug)]
pub struct Headers<'a>(pub &'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// NATS message headers as a carrier.
#[derive(Debug)]
pub struct NatsHeaders<'a>(pub &'a async_nats::HeaderMap);

impl Extractor for NatsHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(async_nats::HeaderValue::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// An outbox row's stored headers (a JSON object of strings) as a carrier.
#[derive(Debug)]
pub struct Stored<'a>(pub &'a serde_json::Map<String, serde_json::Value>);

impl Extractor for Stored<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(serde_json::Value::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
