//! The export pipeline: spans are queued by the SDK's batch processor (a bounded queue on its
//! own thread: a full queue drops spans, it never blocks a request or grows) and sent over
//! OTLP. Built inside the runtime: both exporters do their I/O on it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    trace::{BatchSpanProcessor, SdkTracerProvider, Tracer},
};

use super::config::{Export, Protocol, TraceConfig};

/// How long one export may take before it counts as failed (the spans of that batch are lost).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the shutdown flush waits for the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// A collector's answer is a few bytes; more is not a collector.
const MAX_RESPONSE: usize = 64 * 1024;

/// The running pipeline. [`Pipeline::shutdown`] flushes what is queued.
#[derive(Debug)]
pub struct Pipeline {
    provider: SdkTracerProvider,
}

impl Pipeline {
    /// The pipeline `config` asks for and the tracer spans are recorded with, or `None` when
    /// export is off. Must run inside the Tokio runtime.
    pub fn start(
        config: &TraceConfig,
        service: &'static str,
        version: &'static str,
    ) -> anyhow::Result<Option<(Self, Tracer)>> {
        let Some(export) = &config.export else { return Ok(None) };
        let exporter = exporter(export)?;
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter).build())
            // Work reaches the SDK only once trace::sampled said yes.
            .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
            .with_resource(resource(config, service, version))
            .build();
        let tracer = provider.tracer("mercato");
        Ok(Some((Self { provider }, tracer)))
    }

    /// Exports what is still queued (for at most [`FLUSH_TIMEOUT`]) and stops the exporter:
    /// the last step of a graceful shutdown, after the calls have drained.
    pub async fn shutdown(self) {
        let provider = self.provider;
        // The flush blocks its thread until the batch thread reports back, and that thread
        // needs this runtime for the exporter's I/O: so not on a runtime thread.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT)).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing traces at shutdown failed"),
            Err(e) => tracing::warn!(error = %e, "flushing traces at shutdown failed"),
        }
    }
}

fn exporter(export: &Export) -> anyhow::Result<SpanExporter> {
    let exporter = match export.protocol {
        Protocol::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(export.endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()?,
        Protocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_endpoint(export.endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(HyperClient::new())
            .build()?,
    };
    Ok(exporter)
}

/// service.name (OTEL_SERVICE_NAME, else service.name among OTEL_RESOURCE_ATTRIBUTES, else
/// the binary's), service.version and deployment.environment (`development` unless given),
/// then the other attributes given.
fn resource(config: &TraceConfig, service: &'static str, version: &'static str) -> Resource {
    let given = |key: &str| config.resource.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let name = config.service_name.clone().or_else(|| given("service.name")).unwrap_or_else(|| service.to_string());
    let mut attributes = vec![
        KeyValue::new("service.name", name),
        KeyValue::new("service.version", given("service.version").unwrap_or_else(|| version.to_string())),
        KeyValue::new(
            "deployment.environment",
            given("deployment.environment").unwrap_or_else(|| "development".into()),
        ),
    ];
    const SET: [&str; 3] = ["service.name", "service.version", "deployment.environment"];
    attributes.extend(
        config
            .resource
            .iter()
            .filter(|(k, _)| !SET.contains(&k.as_str()))
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty().with_attributes(attributes).build()
}

/// The HTTP/protobuf exporter's client. The batch processor drives exports from its own
/// thread with a plain executor, so each request is spawned onto the runtime and awaited from
/// there.
#[derive(Debug, Clone)]
struct HyperClient {
    client: Client<HttpConnector, Full<Bytes>>,
    runtime: tokio::runtime::Handle,
}

impl HyperClient {
    fn new() -> Self {
        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        Self { client, runtime: tokio::runtime::Handle::current() }
    }
}

#[async_trait::async_trait]
impl HttpClient for HyperClient {
    async fn send_bytes(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let exchange = async move {
            let response = client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE).collect().await?.to_bytes();
            Ok::<_, HttpError>(http::Response::from_parts(parts, body))
        };
        let task = self.runtime.spawn(async move {
            tokio::time::timeout(EXPORT_TIMEOUT, exchange)
                .await
                .map_err(|_| HttpError::from(format!("no answer within {EXPORT_TIMEOUT:?}")))?
        });
        task.await?
    }
}
