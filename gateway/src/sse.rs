//! Server-streaming RPCs over HTTP: Server-Sent Events when the client accepts
//! `text/event-stream`, newline-delimited JSON otherwise (`{"result": …}` per message,
//! `{"error": …}` last if the stream fails, as grpc-gateway does). When the client goes away the
//! response body is dropped, which drops the upstream stream and cancels the call.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use prost_reflect::DynamicMessage;

use crate::{mesh::Mesh, transcode, transcode::Route};

/// An SSE comment this often keeps idle proxies from closing the connection.
const KEEPALIVE: Duration = Duration::from_secs(15);

pub fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with("text/event-stream")))
}

struct State {
    upstream: tonic::Streaming<DynamicMessage>,
    route: Route,
    mesh: Arc<Mesh>,
    sse: bool,
    keepalive: tokio::time::Interval,
    done: bool,
}

pub fn respond(
    headers: &HeaderMap,
    mesh: Arc<Mesh>,
    route: Route,
    upstream: tonic::Streaming<DynamicMessage>,
) -> Response<Body> {
    let sse = wants_sse(headers);
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = State { upstream, route, mesh, sse, keepalive, done: false };
    let stream = futures::stream::unfold(state, next_chunk);
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    let content_type = if sse { "text/event-stream" } else { "application/x-ndjson" };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn next_chunk(mut s: State) -> Option<(Result<Bytes, Infallible>, State)> {
    if s.done {
        return None;
    }
    let chunk = tokio::select! {
        item = s.upstream.next() => match item {
            Some(Ok(message)) => match transcode::response_json(&s.route, &message) {
                Ok(json) => frame(s.sse, None, &json, "result"),
                Err(e) => {
                    s.done = true;
                    frame(s.sse, Some("error"), &transcode::error_json(s.mesh.pool(), &e.to_status()), "error")
                }
            },
            Some(Err(status)) => {
                s.done = true;
                frame(s.sse, Some("error"), &transcode::error_json(s.mesh.pool(), &status), "error")
            }
            None => return None,
        },
        _ = s.keepalive.tick(), if s.sse => Bytes::from_static(b": keep-alive\n\n"),
    };
    Some((Ok(chunk), s))
}

fn frame(sse: bool, event: Option<&str>, json: &[u8], key: &str) -> Bytes {
    let json = String::from_utf8_lossy(json);
    if sse {
        match event {
            Some(event) => Bytes::from(format!("event: {event}\ndata: {json}\n\n")),
            None => Bytes::from(format!("data: {json}\n\n")),
        }
    } else {
        Bytes::from(format!("{{\"{key}\":{json}}}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_is_chosen_by_accept() {
        let mut headers = HeaderMap::new();
        assert!(!wants_sse(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream;q=0.9"));
        assert!(wants_sse(&headers));
        assert_eq!(frame(false, None, br#"{"a":1}"#, "result"), Bytes::from_static(b"{\"result\":{\"a\":1}}\n"));
        assert_eq!(frame(true, Some("error"), b"{}", "error"), Bytes::from_static(b"event: error\ndata: {}\n\n"));
    }
}
