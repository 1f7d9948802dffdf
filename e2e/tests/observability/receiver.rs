//! A test OTLP receiver: the collector's TraceService over gRPC and its HTTP/protobuf endpoint
//! (POST /v1/traces), keeping every span it is sent, flattened with its resource's service.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
};
use prost::Message as _;

/// One received span.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    /// Attributes of the span's resource (service.name, ...).
    pub(crate) resource: BTreeMap<String, String>,
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    /// Empty for a root.
    pub(crate) parent: String,
    pub(crate) name: String,
    /// SpanKind of the OTLP protocol: 2 server, 3 client, 4 producer, 5 consumer.
    pub(crate) kind: i32,
    pub(crate) attributes: BTreeMap<String, String>,
    /// Over which protocol it came.
    pub(crate) via: &'static str,
}

impl Span {
    pub(crate) fn service(&self) -> &str {
        self.resource.get("service.name").map_or("", String::as_str)
    }
}

pub(crate) const SERVER: i32 = 2;
pub(crate) const CLIENT: i32 = 3;
pub(crate) const PRODUCER: i32 = 4;
pub(crate) const CONSUMER: i32 = 5;

/// See the module docs. Stops when dropped.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub(crate) grpc: SocketAddr,
    pub(crate) http: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (grpc_addr, http_addr) = (grpc.local_addr().unwrap(), http.local_addr().unwrap());
        let service = TraceServiceServer::new(Grpc(spans.clone()));
        let grpc_task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc);
            let _ = tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await;
        });
        let router = Router::new().route("/v1/traces", post(http_export)).with_state(spans.clone());
        let http_task = tokio::spawn(async move {
            let _ = axum::serve(http, router).await;
        });
        Receiver { grpc: grpc_addr, http: http_addr, spans, tasks: vec![grpc_task, http_task] }
    }

    pub(crate) fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

struct Grpc(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        keep(&self.0, request.into_inner(), "grpc");
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

async fn http_export(State(spans): State<Arc<Mutex<Vec<Span>>>>, body: Bytes) -> (StatusCode, Vec<u8>) {
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            keep(&spans, request, "http/protobuf");
            (StatusCode::OK, ExportTraceServiceResponse { partial_success: None }.encode_to_vec())
        }
        Err(_) => (StatusCode::BAD_REQUEST, Vec::new()),
    }
}

fn keep(spans: &Mutex<Vec<Span>>, request: ExportTraceServiceRequest, via: &'static str) {
    let mut kept = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let resource = attributes(&resource_spans.resource.map(|r| r.attributes).unwrap_or_default());
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                kept.push(Span {
                    resource: resource.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    attributes: attributes(&span.attributes),
                    via,
                });
            }
        }
    }
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map(text).unwrap_or_default())).collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
