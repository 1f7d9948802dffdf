//! Logging: one JSON object per line (service, version, level, target, every field of the
//! enclosing spans such as `request_id`, then the event's own fields) for machines, or tracing's
//! compact format for people in `just dev`. Fields that look like secrets are redacted.

use std::{fmt, io::Write, str::FromStr};

use opentelemetry_sdk::trace::Tracer;
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
    /// Logs to stderr instead of stdout: for a command whose stdout is its output (`dlq list
    /// --json`), not for a server, whose stdout is its log stream.
    pub to_stderr: bool,
}

/// Checks EnvFilter syntax without installing anything.
pub fn check_filter(directives: &str) -> Result<(), String> {
    EnvFilter::try_new(directives).map(|_| ()).map_err(|e| format!("{directives:?} is not a valid filter: {e}"))
}

/// Installs the global subscriber; with `tracer`, also the OpenTelemetry layer that records
/// spans for export, and log lines carry the trace and span ids. Calling it again (tests start
/// several apps in one process) is harmless: the first installation stays.
pub fn init(
    service: &'static str,
    version: &'static str,
    config: &LogConfig,
    tracer: Option<(Tracer, crate::trace::Sampler)>,
) {
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let Some((tracer, sampler)) = tracer else {
        let result = match (config.format, config.to_stderr) {
            (LogFormat::Json, false) => tracing_subscriber::registry()
                .with(filter)
                .with(JsonLayer::new(service, version, std::io::stdout))
                .try_init(),
            (LogFormat::Json, true) => tracing_subscriber::registry()
                .with(filter)
                .with(JsonLayer::new(service, version, std::io::stderr))
                .try_init(),
            (LogFormat::Pretty, to_stderr) => {
                tracing_subscriber::registry().with(filter).with(pretty(to_stderr)).try_init()
            }
        };
        // Already initialised: keep the existing subscriber.
        drop(result);
        return;
    };
    // Only the kit's recorded spans (trace::TARGET: their fields are the attributes; events stay
    // in the logs, where secrets are redacted, and no other span is exported), whatever LOG_LEVEL
    // says: the log filter applies to the log layer alone. A filter by target is decided once per
    // callsite, so the spans of unsampled work never reach this layer.
    let spans = tracing_subscriber::filter::Targets::new().with_target(crate::trace::TARGET, tracing::Level::INFO);
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer.clone())
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_level(false)
        .with_filter(spans);
    let registry = tracing_subscriber::registry().with(otel);
    let result = match (config.format, config.to_stderr) {
        (LogFormat::Json, false) => registry
            .with(JsonLayer::new(service, version, std::io::stdout).with_trace_ids().with_filter(filter))
            .try_init(),
        (LogFormat::Json, true) => registry
            .with(JsonLayer::new(service, version, std::io::stderr).with_trace_ids().with_filter(filter))
            .try_init(),
        (LogFormat::Pretty, to_stderr) => registry.with(pretty(to_stderr).with_filter(filter)).try_init(),
    };
    if result.is_ok() {
        crate::trace::mark_enabled(tracer, sampler);
    }
}

fn pretty<S>(to_stderr: bool) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().compact().with_target(false).with_writer(move || -> Box<dyn std::io::Write> {
        if to_stderr { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) }
    })
}

/// Field names whose values never reach a log line.
const REDACTED: &[&str] =
    &["password", "token", "authorization", "secret", "database_url", "refresh_token", "access_token"];

fn is_secret(name: &str) -> bool {
    let name = name.as_bytes();
    REDACTED.iter().any(|r| name.windows(r.len()).any(|w| w.eq_ignore_ascii_case(r.as_bytes())))
}

/// Keys every line has; a span or event field of the same name takes their place.
const FIXED: [&str; 5] = ["timestamp", "level", "service", "version", "target"];

/// Fields recorded on a span, each value already rendered as JSON, for the events inside it.
#[derive(Default)]
struct SpanFields(Vec<(&'static str, String)>);

impl SpanFields {
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| *n == name)
    }

    fn record(&mut self, values: &impl RecordFields) {
        values.record(&mut Fields(|name: &'static str, value: FieldValue<'_>| {
            // Directions to the OpenTelemetry layer (span name, kind, status), not facts.
            if name.starts_with("otel.") {
                return;
            }
            let mut json = Vec::new();
            value.render(name, &mut json);
            let json = String::from_utf8(json).unwrap_or_default();
            match self.0.iter_mut().find(|(n, _)| *n == name) {
                Some((_, old)) => *old = json,
                None => self.0.push((name, json)),
            }
        }));
    }
}

/// What `span::Attributes` and `span::Record` have in common.
trait RecordFields {
    fn record(&self, visitor: &mut dyn Visit);
}

impl RecordFields for span::Attributes<'_> {
    fn record(&self, visitor: &mut dyn Visit) {
        span::Attributes::record(self, visitor);
    }
}

impl RecordFields for span::Record<'_> {
    fn record(&self, visitor: &mut dyn Visit) {
        span::Record::record(self, visitor);
    }
}

/// A `tracing` layer that writes JSON lines. Each line is rendered straight into a reused
/// per-thread buffer (no intermediate map): at the edge, logging is a cost of every request.
pub struct JsonLayer<W> {
    service: &'static str,
    version: &'static str,
    writer: W,
    trace_ids: bool,
}

impl<W> fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer")
            .field("service", &self.service)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<W> JsonLayer<W> {
    pub fn new(service: &'static str, version: &'static str, writer: W) -> Self {
        Self { service, version, writer, trace_ids: false }
    }

    /// Lines written inside a span carry `trace_id` and `span_id` (of the active OpenTelemetry
    /// context, which the OpenTelemetry layer sets on entering a span).
    pub fn with_trace_ids(self) -> Self {
        Self { trace_ids: true, ..self }
    }
}

thread_local! {
    static LINE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(1024));
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields::default();
        fields.record(attrs);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            fields.record(values);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut buf) => self.write_line(&mut buf, event, &ctx),
            // Only if writing a line logged something itself.
            Err(_) => self.write_line(&mut Vec::new(), event, &ctx),
        });
    }
}

impl<W> JsonLayer<W>
where
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn write_line<S>(&self, out: &mut Vec<u8>, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let meta = event.metadata();
        let spans: Vec<_> = ctx.event_scope(event).map(|scope| scope.from_root().collect()).unwrap_or_default();
        let extensions: Vec<_> = spans.iter().map(|span| span.extensions()).collect();
        let fields: Vec<Option<&SpanFields>> = extensions.iter().map(|e| e.get::<SpanFields>()).collect();
        // Later wins: the event's own fields over the spans', inner spans over outer ones, and
        // all of them over the fixed keys, so no key appears twice.
        let in_event = |name: &str| meta.fields().field(name).is_some();
        let in_spans_from = |from: usize, name: &str| fields.iter().skip(from).flatten().any(|f| f.has(name));

        out.clear();
        out.push(b'{');
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for (key, value) in
            FIXED.iter().zip([timestamp.as_str(), meta.level().as_str(), self.service, self.version, meta.target()])
        {
            if !in_event(key) && !in_spans_from(0, key) {
                key_into(out, key);
                string_into(out, value);
            }
        }
        for (i, span_fields) in fields.iter().enumerate() {
            for (name, json) in span_fields.map(|f| f.0.as_slice()).unwrap_or_default() {
                if !in_event(name) && !in_spans_from(i + 1, name) {
                    key_into(out, name);
                    out.extend_from_slice(json.as_bytes());
                }
            }
        }
        if !spans.is_empty() && !in_event("spans") && !in_spans_from(0, "spans") {
            key_into(out, "spans");
            out.push(b'"');
            for (i, span) in spans.iter().enumerate() {
                if i > 0 {
                    out.push(b'>');
                }
                escape_into(out, span.name());
            }
            out.push(b'"');
        }
        if self.trace_ids
            && !spans.is_empty()
            && let Some((trace_id, span_id)) = crate::trace::propagate::active_ids()
        {
            for (key, value) in [("trace_id", trace_id.as_str()), ("span_id", span_id.as_str())] {
                if !in_event(key) {
                    key_into(out, key);
                    string_into(out, value);
                }
            }
        }
        event.record(&mut Fields(|name, value: FieldValue<'_>| {
            key_into(out, name);
            value.render(name, out);
        }));
        out.extend_from_slice(b"}\n");
        // A log line that cannot be written is dropped: logging must never take the service down.
        let _ = self.writer.make_writer().write_all(out);
    }
}

/// `"key":`, preceded by a comma unless it is the first key of the line.
fn key_into(out: &mut Vec<u8>, key: &str) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    out.push(b'"');
    escape_into(out, key);
    out.extend_from_slice(b"\":");
}

fn string_into(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    escape_into(out, value);
    out.push(b'"');
}

/// JSON string escaping; UTF-8 passes through as is.
fn escape_into(out: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
}

/// Escapes what is formatted into it, so `Debug` output needs no intermediate `String`.
struct Escaping<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// One recorded field value, before rendering.
enum FieldValue<'a> {
    Str(&'a str),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Error(&'a (dyn std::error::Error + 'static)),
    Debug(&'a dyn fmt::Debug),
}

impl FieldValue<'_> {
    /// The value as JSON, or `"[redacted]"` when `name` looks like a secret.
    fn render(&self, name: &str, out: &mut Vec<u8>) {
        use fmt::Write as _;
        if is_secret(name) {
            return string_into(out, "[redacted]");
        }
        match self {
            FieldValue::Str(s) => string_into(out, s),
            FieldValue::I64(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::U64(v) => {
                let _ = write!(out, "{v}");
            }
            // JSON has no NaN or infinity.
            FieldValue::F64(v) if !v.is_finite() => out.extend_from_slice(b"null"),
            FieldValue::F64(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
            FieldValue::Error(e) => {
                // The whole cause chain: the top error alone rarely says why.
                out.push(b'"');
                let _ = write!(Escaping(out), "{e}");
                let mut source = e.source();
                while let Some(cause) = source {
                    let _ = write!(Escaping(out), ": {cause}");
                    source = cause.source();
                }
                out.push(b'"');
            }
            FieldValue::Debug(v) => {
                out.push(b'"');
                let _ = write!(Escaping(out), "{v:?}");
                out.push(b'"');
            }
        }
    }
}

/// A visitor handing each field to a closure.
struct Fields<F>(F);

impl<F: FnMut(&'static str, FieldValue<'_>)> Visit for Fields<F> {
    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)(field.name(), FieldValue::Str(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        (self.0)(field.name(), FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        (self.0)(field.name(), FieldValue::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        (self.0)(field.name(), FieldValue::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        (self.0)(field.name(), FieldValue::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        (self.0)(field.name(), FieldValue::Error(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        (self.0)(field.name(), FieldValue::Debug(value));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::Value;

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

    fn lines(buf: &Buf) -> Vec<(String, Value)> {
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| (l.to_string(), serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))).collect()
    }

    #[test]
    fn later_fields_win_and_no_key_appears_twice() {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new("gateway", "1", buf.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("outer", kind = "rest", who = "outer", target = "mine");
            let _outer = outer.enter();
            let inner = tracing::info_span!("inner", who = "inner", status = tracing::field::Empty);
            let _inner = inner.enter();
            inner.record("status", 200u64);
            tracing::info!(kind = "grpc", "done");
        });
        let lines = lines(&buf);
        let (text, line) = &lines[0];
        assert_eq!(line["kind"], "grpc", "the event beats the span");
        assert_eq!(line["who"], "inner", "the inner span beats the outer");
        assert_eq!(line["target"], "mine", "a field replaces a fixed key");
        assert_eq!(line["status"], 200, "fields recorded later are kept");
        assert_eq!(line["spans"], "outer>inner");
        for key in ["kind", "who", "target", "status", "spans", "timestamp", "level", "service", "message"] {
            assert_eq!(text.matches(&format!("\"{key}\":")).count(), 1, "{key} once in {text}");
        }
    }

    #[test]
    fn values_are_valid_json_of_their_type() {
        #[derive(Debug)]
        struct Tricky;
        let buf = Buf::default();
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new("catalog", "1", buf.clone()));
        let error = std::io::Error::other(anyhow::anyhow!("disk \"full\"").context("saving"));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                count = 3u64,
                delta = -4i64,
                ratio = 0.5f64,
                nan = f64::NAN,
                ok = true,
                quoted = "a \"b\"\n\tc\u{1}",
                unicode = "café ✓",
                debug = ?Tricky,
                error = &error as &(dyn std::error::Error + 'static),
                Authorization = "Bearer abc",
                "line one\nline \"two\""
            );
        });
        let (text, line) = &lines(&buf)[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["count"], 3);
        assert_eq!(line["delta"], -4);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["nan"], Value::Null);
        assert_eq!(line["ok"], true);
        assert_eq!(line["quoted"], "a \"b\"\n\tc\u{1}");
        assert_eq!(line["unicode"], "café ✓");
        assert_eq!(line["debug"], "Tricky");
        assert_eq!(line["error"], "saving: disk \"full\"");
        assert_eq!(line["Authorization"], "[redacted]", "secrets match whatever their case");
        assert!(!text.contains("Bearer abc"));
        assert_eq!(line["message"], "line one\nline \"two\"");
        assert!(!text.trim_end().contains('\n'), "one line per event");
    }
}
