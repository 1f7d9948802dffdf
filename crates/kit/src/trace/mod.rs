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
pub use propagate::{inject_headers, inject_metadata, set_parent, traceparent_of};
use tonic::Code;

static ENABLED: AtomicBool = AtomicBool::new(false);
static TRACER: OnceLock<Tracer> = OnceLock::new();

/// Whether spans are being recorded for export (the OpenTelemetry layer is installed).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Called once the OpenTelemetry layer recording with `tracer` is installed.
pub(crate) fn mark_enabled(tracer: Tracer) {
    let _ = TRACER.set(tracer);
    ENABLED.store(true, Ordering::Relaxed);
}

/// The tracer of spans made without `tracing` (the database's), when tracing is on.
fn tracer() -> Option<Tracer> {
    TRACER.get().cloned()
}

/// The span of an outgoing gRPC call to `path` (`/package.Service/Method`), a child of the
/// current span; `Span::none()` when tracing is off. Inject its context into the request
/// ([`inject_metadata`]), run the call inside it, then [`record_client_code`].
pub fn client_span(path: &str) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    tracing::info_span!(
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
