//! Logging: one JSON object per line (service, version, level, target, every field of the
//! enclosing spans such as `request_id`, then the event's own fields) for machines, or tracing's
//! compact format for people in `just dev`. Fields that look like secrets are redacted.

use std::{fmt, io::Write, str::FromStr};

use serde_json::{Map, Value};
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span,
};
use tracing_subscriber::{
    EnvFilter, Layer,
    fmt::MakeWriter,
    layer::{Context, SubscriberExt},
    registry::LookupSpan,
    util::SubscriberInitExt,
};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(format!("{other:?} is not a log format: use json or pretty")),
        }
    }
}

/// Validated logging configuration.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

/// Checks EnvFilter syntax without installing anything.
pub fn check_filter(directives: &str) -> Result<(), String> {
    EnvFilter::try_new(directives).map(|_| ()).map_err(|e| format!("{directives:?} is not a valid filter: {e}"))
}

/// Installs the global subscriber. Calling it again (tests start several apps in one process)
/// is harmless: the first installation stays.
pub fn init(service: &'static str, version: &'static str, config: &LogConfig) {
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match config.format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(JsonLayer::new(service, version, std::io::stdout))
            .try_init(),
        LogFormat::Pretty => tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().compact().with_target(false))
            .try_init(),
    };
    // Already initialised: keep the existing subscriber.
    drop(result);
}

/// Field names whose values never reach a log line.
const REDACTED: &[&str] =
    &["password", "token", "authorization", "secret", "database_url", "refresh_token", "access_token"];

fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    REDACTED.iter().any(|r| name.contains(r))
}

/// Fields recorded on a span, kept in its extensions for the events inside it.
#[derive(Default)]
struct SpanFields(Map<String, Value>);

/// A `tracing` layer that writes JSON lines.
pub struct JsonLayer<W> {
    service: &'static str,
    version: &'static str,
    writer: W,
}

impl<W> JsonLayer<W> {
    pub fn new(service: &'static str, version: &'static str, writer: W) -> Self {
        Self { service, version, writer }
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields::default();
        attrs.record(&mut JsonVisitor(&mut fields.0));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut JsonVisitor(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("service".into(), self.service.into());
        line.insert("version".into(), self.version.into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope(event) {
            let mut names = Vec::new();
            for span in scope.from_root() {
                names.push(span.name());
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &fields.0 {
                        line.insert(k.clone(), v.clone());
                    }
                }
            }
            line.insert("spans".into(), names.join(">").into());
        }
        event.record(&mut JsonVisitor(&mut line));
        let mut bytes = match serde_json::to_vec(&line) {
            Ok(bytes) => bytes,
            Err(_) => return,
        };
        bytes.push(b'\n');
        // A log line that cannot be written is dropped: logging must never take the service down.
        let _ = self.writer.make_writer().write_all(&bytes);
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let value = if is_secret(field.name()) { Value::from("[redacted]") } else { value };
        self.0.insert(field.name().to_string(), value);
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole cause chain: the top error alone rarely says why.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.put(field, text.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn lines_carry_service_span_fields_and_redact_secrets() {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new("catalog", "1.2.3", buf.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("grpc", request_id = "req-1");
            let _guard = span.enter();
            tracing::info!(password = "hunter2", sku = "A-1", "created");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["service"], "catalog");
        assert_eq!(line["version"], "1.2.3");
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["message"], "created");
        assert_eq!(line["sku"], "A-1");
        assert_eq!(line["password"], "[redacted]");
        assert!(!text.contains("hunter2"));
    }
}
