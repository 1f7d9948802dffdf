//! Distributed traces: OpenTelemetry spans exported over OTLP when an endpoint is configured,
//! and W3C trace context carried across every hop (gRPC metadata, NATS headers, the outbox), so
//! that one checkout is one trace from the gateway to the last consumer.
//!
//! With no endpoint nothing is installed: [`enabled`] is false, the spans the kit makes are
//! the plain ones logging always had, and the helpers here return at once.

mod config;
pub mod db;
mod export;
pub mod propagate;

use std::sync::{
    OnceLock,
    atomic::{AtomicBool, Ordering},
};

use opentelemetry_sdk::trace::Tracer;

pub use config::{Export, Protocol, Root, Sampler, TraceArgs, TraceConfig};
pub use export::Pipeline;
pub use propagate::{extract, inject_headers, inject_metadata, set_parent, traceparent_of};
use tonic::Code;

static ENABLED: AtomicBool = AtomicBool::new(false);
static TRACER: OnceLock<Tracer> = OnceLock::new();
static SAMPLER: OnceLock<Sampler> = OnceLock::new();

/// The target of the spans that are exported: the OpenTelemetry layer sees only these, so a
/// request that is not sampled costs the layer nothing (its spans are the plain ones).
pub const TARGET: &str = "mercato_otel";

/// Whether spans are being recorded for export (the OpenTelemetry layer is installed).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Called once the OpenTelemetry layer recording with `tracer` is installed.
pub(crate) fn mark_enabled(tracer: Tracer, sampler: Sampler) {
    let _ = TRACER.set(tracer);
    let _ = SAMPLER.set(sampler);
    ENABLED.store(true, Ordering::Relaxed);
}

/// The tracer of spans made without `tracing` (the database's), when tracing is on.
fn tracer() -> Option<Tracer> {
    TRACER.get().cloned()
}

/// Whether work that continues `parent` (what a carrier brought; invalid when nothing) is
/// recorded: the sampling decision, made once where work enters the process and before any
/// span exists, so that unsampled work makes only the plain spans. The SDK's own sampler is
/// AlwaysOn, since only sampled work reaches it.
pub fn sampled(parent: &opentelemetry::Context) -> bool {
    use opentelemetry::trace::TraceContextExt as _;
    if !enabled() {
        return false;
    }
    let span = parent.span();
    let context = span.span_context();
    let ratio = |ratio: f64| {
        if context.is_valid() {
            // As the specification's TraceIdRatioBased: the low 64 bits of the trace id.
            let low = u64::from_be_bytes(context.trace_id().to_bytes()[8..].try_into().unwrap_or_default());
            (low >> 1) < (ratio * (1u64 << 63) as f64) as u64
        } else {
            rand::random::<f64>() < ratio
        }
    };
    match SAMPLER.get().copied().unwrap_or(Sampler::ParentBased(Root::AlwaysOn)) {
        Sampler::AlwaysOn => true,
        Sampler::AlwaysOff => false,
        Sampler::Ratio(r) => ratio(r),
        Sampler::ParentBased(_) if context.is_valid() => context.is_sampled(),
        Sampler::ParentBased(Root::AlwaysOn) => true,
        Sampler::ParentBased(Root::AlwaysOff) => false,
        Sampler::ParentBased(Root::Ratio(r)) => ratio(r),
    }
}

/// Whether the span in progress on this thread is a recorded one.
pub fn in_sampled_span() -> bool {
    use opentelemetry::trace::TraceContextExt as _;
    enabled() && opentelemetry::Context::current().span().span_context().is_sampled()
}

/// The span of an outgoing gRPC call to `path` (`/package.Service/Method`), a child of the
/// current span; `Span::none()` unless that span is recorded. Inject its context into the request
/// ([`inject_metadata`]), run the call inside it, then [`record_client_code`].
pub fn client_span(path: &str) -> tracing::Span {
    if !in_sampled_span() {
        return tracing::Span::none();
    }
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    tracing::info_span!(
        target: TARGET,
        "rpc.client",
        otel.name = path,
        otel.kind = "client",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// A client span's outcome: any code but OK is an error for the caller (semantic conventions
/// for gRPC).
pub fn record_client_code(span: &tracing::Span, code: Code) {
    span.record("rpc.grpc.status_code", code as i64);
    if code != Code::Ok {
        span.record("otel.status_code", "error");
    }
}

/// A server span's outcome: only the codes that are the server's fault mark it an error.
pub fn record_server_code(span: &tracing::Span, code: Code) {
    span.record("rpc.grpc.status_code", code as i64);
    if matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    ) {
        span.record("otel.status_code", "error");
    }
}
