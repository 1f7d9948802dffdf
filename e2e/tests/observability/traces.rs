//! One checkout is one trace. The whole shop exports to a test OTLP receiver (the gateway,
//! orders and catalog over gRPC, the rest over HTTP/protobuf), a client sends PlaceOrder with
//! its own `traceparent`, and once every process has stopped gracefully (the last spans leave
//! in the shutdown flush) the received spans must: share the client's trace id from the
//! gateway through orders, catalog, payments, shipping and notifications; hang together
//! parent by parent across every gRPC and NATS hop; follow the semantic conventions; and carry
//! no token.

use std::{collections::BTreeSet, time::Duration};

use mercato_e2e::{Stack, whole::WholeShop};
use mercato_kit::testing::{Backend, http_response, token_subject};

use crate::{
    receiver::{CLIENT, CONSUMER, PRODUCER, Receiver, SERVER, Span},
    shopper::checkout,
};

/// Quick moves, so that the checkout's shipment leaves within seconds.
const SHIPPING: &[&str] = &["--dispatch-delay", "1s", "--delivery-delay", "2s", "--shipping-timer-interval", "100ms"];

/// Gateway, orders and catalog export over gRPC; the others over HTTP/protobuf.
fn protocol(service: &str) -> &'static str {
    if ["gateway", "orders", "catalog"].contains(&service) { "grpc" } else { "http/protobuf" }
}

mercato_kit::on_both_databases!(one_checkout_is_one_trace_across_every_grpc_and_nats_hop);

async fn one_checkout_is_one_trace_across_every_grpc_and_nats_hop(backend: Backend) {
    let receiver = Receiver::start().await;
    let (grpc, http) = (receiver.grpc, receiver.http);
    let mut shop = WholeShop::start_with(backend, SHIPPING, |service| {
        let endpoint = if protocol(service) == "grpc" { grpc } else { http };
        [
            "--otel-exporter-otlp-endpoint",
            &format!("http://{endpoint}"),
            "--otel-exporter-otlp-protocol",
            protocol(service),
            "--otel-resource-attributes",
            "deployment.environment=e2e",
        ]
        .map(String::from)
        .to_vec()
    })
    .await
    .unwrap();

    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let client_span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let sent = format!("00-{trace_id}-{client_span}-01");
    let done = checkout(shop.gateway_addr(), Some(&sent)).await;
    // A caller that did not sample its request: nothing of it is recorded, here or behind.
    let unsampled_trace = uuid::Uuid::new_v4().simple().to_string();
    let unsampled = format!("00-{unsampled_trace}-{client_span}-00");
    let (code, fields, body) =
        http_response(shop.gateway_addr(), "GET", "/v1/products?pageSize=2", &[("traceparent", &unsampled)], "")
            .await
            .unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(fields.iter().all(|(name, _)| name != "traceparent"), "an unsampled request answered {fields:?}");
    let logs: Vec<(String, Vec<String>)> = ["orders", "catalog", "payments", "shipping", "notifications"]
        .iter()
        .map(|name| (name.to_string(), shop.service(name).unwrap().log_lines()))
        .chain([("gateway".to_string(), shop.gateway.log_lines())])
        .collect();
    for (name, status) in shop.stop(Duration::from_secs(20)).await.unwrap() {
        assert!(status.success(), "{name} exited with {status} on SIGTERM");
    }

    let spans = receiver.spans();
    let trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let mut problems = Vec::new();
    if let Some(span) = spans.iter().find(|s| s.trace_id == unsampled_trace) {
        problems.push(format!("{} recorded {:?} of a trace its caller did not sample", span.service(), span.name));
    }
    let services: BTreeSet<&str> = trace.iter().map(|s| s.service()).collect();
    for expected in ["gateway", "orders", "catalog", "payments", "shipping", "notifications"] {
        if !services.contains(expected) {
            problems.push(format!("no span of {expected} in the checkout's trace"));
        }
    }
    problems.extend(chain(&trace, client_span));
    problems.extend(hops(&trace));
    problems.extend(conventions(&trace, &done.order, &token_subject(&done.token)));
    for via in ["grpc", "http/protobuf"] {
        if !trace.iter().any(|s| s.via == via) {
            problems.push(format!("nothing arrived over {via}"));
        }
    }
    match &done.traceparent {
        Some(answered) if answered.starts_with(&format!("00-{trace_id}-")) => {}
        other => problems.push(format!("PlaceOrder answered traceparent {other:?}, not one of trace {trace_id}")),
    }
    // Nowhere, in any span received, a token.
    for span in &spans {
        for (key, value) in span.attributes.iter().chain(&span.resource) {
            if value.contains(&done.token) || value.to_ascii_lowercase().contains("bearer ") {
                problems.push(format!("{} span {:?} carries a token in {key}", span.service(), span.name));
            }
        }
    }
    problems.extend(log_lines_name_the_trace(&logs, &trace_id, &trace));
    assert!(
        problems.is_empty(),
        "order {}: {} problems in trace {trace_id} ({} spans of {} received):\n  {}\n\nthe trace:\n{}",
        done.order,
        problems.len(),
        trace.len(),
        spans.len(),
        problems.join("\n  "),
        trace
            .iter()
            .map(|s| format!("  {} {:?} kind {} {}<-{}", s.service(), s.name, s.kind, s.span_id, s.parent))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The gateway's span is the child of the client's; every other span's parent is in the trace.
fn chain(trace: &[&Span], client_span: &str) -> Vec<String> {
    let ids: BTreeSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    let mut problems = Vec::new();
    let edge: Vec<&&Span> = trace.iter().filter(|s| s.parent == client_span).collect();
    match edge.as_slice() {
        [edge] if edge.service() == "gateway" && edge.kind == SERVER => {}
        other => problems.push(format!(
            "the client's span should have one child, the gateway's server span; it has {:?}",
            other.iter().map(|s| (s.service(), &s.name)).collect::<Vec<_>>()
        )),
    }
    for span in trace.iter().filter(|s| s.parent != client_span) {
        if !ids.contains(span.parent.as_str()) {
            problems.push(format!(
                "{} span {:?} has parent {:?}, which is not in the trace",
                span.service(),
                span.name,
                span.parent
            ));
        }
    }
    problems
}

/// Each hop of the saga is there, as the kind of span it is.
fn hops(trace: &[&Span]) -> Vec<String> {
    let has = |service: &str, kind: i32, name: &str| {
        trace.iter().any(|s| s.service() == service && s.kind == kind && s.name.contains(name))
    };
    let mut problems = Vec::new();
    for (service, kind, name) in [
        ("gateway", CLIENT, "mercato.orders.v1.OrderService/PlaceOrder"),
        ("orders", SERVER, "mercato.orders.v1.OrderService/PlaceOrder"),
        ("orders", CLIENT, "mercato.catalog.v1.CatalogService/BatchGetProducts"),
        ("catalog", SERVER, "mercato.catalog.v1.CatalogService/BatchGetProducts"),
        ("orders", PRODUCER, "send "),
        ("catalog", CONSUMER, "process "),
        ("catalog", PRODUCER, "send "),
        ("payments", CONSUMER, "process "),
        ("payments", PRODUCER, "send "),
        ("orders", CONSUMER, "process "),
        ("shipping", CONSUMER, "process "),
        ("notifications", CONSUMER, "process "),
        ("orders", CLIENT, "INSERT "),
        ("catalog", CLIENT, "SELECT "),
        ("payments", CLIENT, "INSERT "),
    ] {
        if !has(service, kind, name) {
            problems.push(format!("no {service} span of kind {kind} named like {name:?}"));
        }
    }
    // Every consumer's span is the child of a producer's: the message carried the context.
    for consumer in trace.iter().filter(|s| s.kind == CONSUMER) {
        let parent = trace.iter().find(|s| s.span_id == consumer.parent);
        if parent.is_none_or(|p| p.kind != PRODUCER) {
            problems.push(format!(
                "{} consumer span {:?} is not the child of a producer span",
                consumer.service(),
                consumer.name
            ));
        }
    }
    problems
}

/// Semantic conventions for RPC and messaging, the resource, and order_id / user_id.
fn conventions(trace: &[&Span], order: &str, user: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for span in trace {
        let attribute = |key: &str| span.attributes.get(key).map(String::as_str);
        let expected: &[(&str, Option<&str>)] = match (span.kind, span.service()) {
            (CLIENT, _) if span.attributes.contains_key("db.system.name") => {
                &[("db.operation.name", None), ("db.query.text", None)]
            }
            (SERVER, "gateway") => {
                &[("http.request.method", None), ("http.route", None), ("http.response.status_code", None)]
            }
            (SERVER | CLIENT, _) => &[
                ("rpc.system", Some("grpc")),
                ("rpc.service", None),
                ("rpc.method", None),
                ("rpc.grpc.status_code", None),
            ],
            (PRODUCER | CONSUMER, _) => &[
                ("messaging.system", Some("nats")),
                ("messaging.destination.name", None),
                ("messaging.operation.type", None),
            ],
            _ => &[],
        };
        for (key, value) in expected {
            match (attribute(key), value) {
                (None, _) => problems.push(format!("{} span {:?} has no {key}", span.service(), span.name)),
                (Some(found), Some(value)) if found != *value => {
                    problems.push(format!("{} span {:?} has {key}={found}, not {value}", span.service(), span.name))
                }
                _ => {}
            }
        }
        for (key, value) in [("deployment.environment", "e2e"), ("service.version", "")] {
            if span.resource.get(key).is_none_or(|v| !v.contains(value)) {
                problems.push(format!("{} span {:?}'s resource lacks {key}", span.service(), span.name));
            }
        }
    }
    if !trace.iter().any(|s| s.service() == "orders" && s.attributes.get("user_id").is_some_and(|u| u == user)) {
        problems.push(format!("no orders span carries user_id {user}"));
    }
    if !trace.iter().any(|s| s.attributes.get("messaging.message.conversation_id").is_some_and(|o| o == order)) {
        problems.push(format!("no event span names order {order} as its conversation"));
    }
    problems
}

/// Log lines written inside the checkout's spans carry its trace id and one of its span ids.
fn log_lines_name_the_trace(logs: &[(String, Vec<String>)], trace_id: &str, trace: &[&Span]) -> Vec<String> {
    let ids: BTreeSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    let mut traced = 0;
    for (_, lines) in logs {
        for line in lines {
            let Ok(line) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            if line["trace_id"] == trace_id {
                traced += 1;
                if !line["span_id"].as_str().is_some_and(|id| ids.contains(id)) {
                    return vec![format!("log line {line} names a span that is not in the trace")];
                }
            }
        }
    }
    if traced == 0 { vec![format!("no log line carries trace_id {trace_id}")] } else { Vec::new() }
}

/// With no endpoint, nothing is traced: no `traceparent` answered, no trace ids in the logs
/// (the caller's context still reaches the services, as it always did).
#[tokio::test]
async fn without_an_endpoint_nothing_is_traced() {
    let stack = Stack::start(&[]).await.unwrap();
    let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (code, fields, body) =
        http_response(stack.gateway.grpc_addr, "GET", "/v1/products?pageSize=2", &[("traceparent", sent)], "")
            .await
            .unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(fields.iter().all(|(name, _)| name != "traceparent"), "{fields:?}");
    for line in stack.gateway.log_lines().iter().chain(&stack.catalog.log_lines()) {
        assert!(!line.contains("\"trace_id\""), "{line}");
    }
}

/// A collector that accepts connections and never answers: requests are served as usual (the
/// spans queue on the export thread, and are dropped once its queue is full), and SIGTERM
/// still ends the process cleanly, the flush given up after its bound.
#[tokio::test]
async fn a_hung_collector_neither_slows_requests_nor_holds_shutdown() {
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", hole.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = hole.accept().await {
            open.push(stream);
        }
    });
    let flags = ["--otel-exporter-otlp-endpoint", &endpoint, "--otel-exporter-otlp-protocol", "grpc"];
    let mut stack = Stack::start(&flags).await.unwrap();
    let gateway = stack.gateway.grpc_addr;
    // More spans (two per request) than the export queue holds (2048).
    let workers = (0..8).map(|_| async move {
        for _ in 0..150 {
            let (code, _, body) = http_response(gateway, "GET", "/v1/products?pageSize=1", &[], "").await.unwrap();
            assert_eq!(code, 200, "{body}");
        }
    });
    futures::future::join_all(workers).await;
    stack.gateway.terminate().unwrap();
    let status = stack.gateway.wait(Duration::from_secs(20)).await.unwrap();
    assert!(status.success(), "the gateway exited with {status}");
    held.abort();
}
