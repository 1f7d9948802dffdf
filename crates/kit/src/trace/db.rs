//! A client span per SQL statement (semantic conventions for database calls), made from
//! sea-orm's per-statement callback after the statement ran: start and end times are the
//! statement's, the parent is the span the statement ran in. Registered only when tracing is
//! on; statements outside any traced work make no span.

use std::time::SystemTime;

use opentelemetry::{
    KeyValue,
    trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _},
};
use sea_orm::{DatabaseBackend, DatabaseConnection};

/// Makes `db` report its statements as spans, when tracing is on.
pub fn instrument(db: &mut DatabaseConnection) {
    let Some(tracer) = super::tracer() else { return };
    let system = match db.get_database_backend() {
        DatabaseBackend::Postgres => "postgresql",
        DatabaseBackend::Sqlite => "sqlite",
        _ => "other_sql",
    };
    db.set_metric_callback(move |info| {
        // The context of the recorded span the statement ran in (the OpenTelemetry layer
        // makes it current on entering it); none for unsampled work.
        let parent = opentelemetry::Context::current();
        if !parent.span().span_context().is_sampled() {
            return;
        }
        let end = SystemTime::now();
        let start = end.checked_sub(info.elapsed).unwrap_or(end);
        // Statements are built with placeholders: the text carries no values.
        let sql = info.statement.sql.as_str();
        let operation = sql.split_whitespace().next().unwrap_or("SQL").to_ascii_uppercase();
        let mut span = tracer
            .span_builder(format!("{operation} {system}"))
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("db.system.name", system),
                KeyValue::new("db.operation.name", operation),
                KeyValue::new("db.query.text", sql.to_string()),
            ])
            .start_with_context(&tracer, &parent);
        if info.failed {
            span.set_status(Status::error("the statement failed"));
        }
        span.end_with_timestamp(end);
    });
}
