//! Unary gRPC calls for REST transcoding, over bare HTTP/2 connections.
//!
//! Why not tonic's `Channel` here: every call would pass through its buffer task, and hyper's
//! client writes a request's HEADERS and DATA frames in two separate writes (its body pipe waits
//! for stream capacity, which a stream only gets once its HEADERS went out). Handing h2 the framed
//! message together with the headers lets both leave in one write: one syscall and one wake-up
//! of the upstream less per request, the largest single cost left on the REST path (issue 4's
//! figures). Server streams, the native gRPC pass-through and aggregation keep using `Channel`.

use std::{
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, HeaderValue, Method, Request, Uri, header, uri::PathAndQuery};
use mercato_kit::{
    client::{Connector, Downstream, Idempotency, retry},
    trace,
};
use tonic::{Code, Status};
use tracing::Instrument as _;

/// Same as the kit's gRPC channels: a dead peer is noticed within this time, not TCP's minutes.
const KEEPALIVE: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");
/// The largest response accepted (tonic's default decoding limit).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Flow-control windows: a response never waits for a WINDOW_UPDATE round trip.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;
/// Connections are replaced after this long, so the calls spread over an upstream's addresses
/// as they are now (replicas added behind its name get their share).
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);

/// Several lazily opened HTTP/2 connections to one upstream, used in turn; a connection that
/// fails is dropped and the next call through its slot opens a new one. Every call goes
/// through the upstream's [`Downstream`] (bulkhead, breaker, deadline, retries).
pub struct UnaryClient {
    authority: http::uri::Authority,
    /// Shared by the slots: one backoff per upstream, so a dead one costs a few connects per
    /// second in all, and no connection to itself.
    dialer: Connector,
    downstream: Downstream,
    slots: Vec<Arc<Slot>>,
    next: AtomicUsize,
}

impl fmt::Debug for UnaryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnaryClient")
            .field("authority", &self.authority)
            .field("connections", &self.slots.len())
            .field("downstream", &self.downstream.name())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Slot {
    ready: Mutex<Option<Conn>>,
    /// Held while connecting, so a burst of calls opens one connection, not one each.
    connecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
}

/// One HTTP/2 connection of a slot.
#[derive(Clone)]
struct Conn {
    generation: u64,
    sender: SendRequest<Bytes>,
    since: tokio::time::Instant,
    /// This connection has carried a call to its end: the upstream speaks HTTP/2. Its own
    /// flag: a slot's next connection must not make its predecessor's end look unproven.
    proven: Arc<AtomicBool>,
}

impl Slot {
    /// The slot's connection, unless it is older than [`MAX_CONNECTION_AGE`]: the next call
    /// then opens a new one (to the next of the upstream's addresses, as resolved now); the old
    /// one finishes its calls and closes.
    fn current(&self) -> Option<Conn> {
        let mut ready = self.ready.lock().ok()?;
        if ready.as_ref().is_some_and(|conn| conn.since.elapsed() >= MAX_CONNECTION_AGE) {
            *ready = None;
        }
        ready.clone()
    }

    /// Forgets the connection of `generation` (a newer one is left alone).
    fn drop_connection(&self, generation: u64) {
        if let Ok(mut ready) = self.ready.lock()
            && ready.as_ref().is_some_and(|conn| conn.generation == generation)
        {
            *ready = None;
        }
    }
}

impl UnaryClient {
    /// `url` is `http://host:port`; nothing is connected until the first call.
    pub fn new(url: &str, connections: usize, downstream: Downstream) -> anyhow::Result<Self> {
        let uri: Uri = url.parse()?;
        if uri.scheme().is_some_and(|scheme| *scheme != http::uri::Scheme::HTTP) {
            anyhow::bail!("{url}: only plaintext (h2c) upstreams are supported; put TLS in the mesh's sidecars");
        }
        let authority = uri.authority().cloned().ok_or_else(|| anyhow::anyhow!("{url} names no host"))?;
        let slots = (0..connections.max(1)).map(|_| Arc::new(Slot::default())).collect();
        Ok(Self { authority, slots, next: AtomicUsize::new(0), dialer: downstream.connector(), downstream })
    }

    /// The protection every call to this upstream goes through (shared with the gRPC
    /// pass-through, so one breaker and one bulkhead see all of it).
    pub fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// Calls `path` with `message` (an encoded protobuf request) and returns the encoded
    /// response, or the upstream's status. `headers` travel as metadata; `timeout` bounds the
    /// whole call, retries included, and what is left of it is sent as `grpc-timeout`.
    pub async fn call(
        &self,
        path: &PathAndQuery,
        headers: HeaderMap,
        message: Bytes,
        timeout: Duration,
        idempotency: Idempotency,
    ) -> Result<Bytes, Status> {
        let span = trace::client_span(path.path());
        let mut headers = headers;
        trace::inject_headers(&span, &mut headers);
        let result = self
            .downstream
            .call(idempotency, timeout, |left| {
                let (headers, message) = (headers.clone(), message.clone());
                async move {
                    let (slot, conn) = self.sender().await?;
                    let result = self.exchange(conn.sender, path, headers, message, left).await;
                    match &result {
                        Err(Failure::Connection(_)) => slot.drop_connection(conn.generation),
                        Ok(_) | Err(Failure::Status(_)) if !conn.proven.swap(true, Ordering::Relaxed) => {
                            self.dialer.connected();
                        }
                        _ => {}
                    }
                    result.map_err(Failure::into_status)
                }
            })
            .instrument(span.clone())
            .await;
        trace::record_client_code(&span, result.as_ref().map_or_else(Status::code, |_| Code::Ok));
        result
    }

    async fn sender(&self) -> Result<(Arc<Slot>, Conn), Status> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len().max(1);
        let slot = self.slots.get(i).ok_or_else(|| Status::internal("no upstream connection slots"))?.clone();
        if let Some(conn) = slot.current() {
            return Ok((slot, conn));
        }
        let conn = self.connect_slot(&slot).await?;
        Ok((slot, conn))
    }

    async fn connect_slot(&self, slot: &Arc<Slot>) -> Result<Conn, Status> {
        let _connecting = slot.connecting.lock().await;
        if let Some(current) = slot.current() {
            return Ok(current);
        }
        let conn = self
            .connect(slot)
            .await
            .map_err(|e| retry::unsent(Status::unavailable(format!("upstream unavailable: {e}"))))?;
        if let Ok(mut ready) = slot.ready.lock() {
            *ready = Some(conn.clone());
        }
        Ok(conn)
    }

    /// A new connection for `slot`; its driver forgets it when it ends.
    async fn connect(&self, slot: &Arc<Slot>) -> anyhow::Result<Conn> {
        let address = self.authority.as_str();
        let target = Uri::builder()
            .scheme(http::uri::Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query("/")
            .build()?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, self.dialer.dial(&target))
            .await
            .map_err(|_| anyhow::anyhow!("connecting to {address} timed out after {CONNECT_TIMEOUT:?}"))??;
        let peer = stream.peer_addr()?;
        let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE).with_interval(KEEPALIVE);
        socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            .handshake(stream)
            .await?;
        let generation = slot.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let proven = Arc::new(AtomicBool::new(false));
        let (slot, dialer, ended) = (slot.clone(), self.dialer.clone(), proven.clone());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
            // Accepted, then gone before answering anything (a listener that is not the
            // upstream, one shutting down): back off as from a refused connect, not at once.
            if !ended.load(Ordering::Relaxed) {
                dialer.failed(peer);
            }
            slot.drop_connection(generation);
        });
        Ok(Conn { generation, sender, since: tokio::time::Instant::now(), proven })
    }

    async fn exchange(
        &self,
        sender: SendRequest<Bytes>,
        path: &PathAndQuery,
        mut headers: HeaderMap,
        message: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, Failure> {
        let mut sender = sender.ready().await.map_err(Failure::Connection)?;
        let uri = Uri::builder()
            .scheme(http::uri::Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path.clone())
            .build()
            .map_err(|e| Failure::Status(Status::internal(format!("upstream URI: {e}"))))?;
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        if let Ok(value) = HeaderValue::from_str(&grpc_timeout(timeout)) {
            headers.insert(GRPC_TIMEOUT, value);
        }
        let mut request = Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let (response, mut body) = sender.send_request(request, false).map_err(Failure::Connection)?;
        // No capacity is reserved first: h2 queues the frame behind HEADERS and both go out in
        // the connection task's next write.
        body.send_data(frame(&message), true).map_err(Failure::Stream)?;
        let response = response.await.map_err(Failure::Stream)?;
        let (parts, mut body) = response.into_parts();
        if parts.status != http::StatusCode::OK {
            return Err(Failure::Status(status_from_http(parts.status)));
        }
        // A trailers-only response carries the status in its headers.
        if let Some(status) = Status::from_header_map(&parts.headers) {
            return Err(Failure::Status(if status.code() == Code::Ok {
                Status::internal("upstream answered OK without a message")
            } else {
                status
            }));
        }
        let mut received = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(Failure::Stream)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if received.len() + chunk.len() > MAX_RESPONSE_BYTES + 5 {
                return Err(Failure::Status(Status::resource_exhausted(format!(
                    "upstream response larger than {MAX_RESPONSE_BYTES} bytes"
                ))));
            }
            received.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(Failure::Stream)?.unwrap_or_default();
        match Status::from_header_map(&trailers) {
            Some(status) if status.code() == Code::Ok => unframe(received.freeze()).map_err(Failure::Status),
            Some(status) => Err(Failure::Status(status)),
            None => Err(Failure::Status(Status::internal("upstream response ended without grpc-status"))),
        }
    }
}

/// Why a call failed: the connection (it is dropped), one stream, or the upstream's answer.
enum Failure {
    Connection(h2::Error),
    Stream(h2::Error),
    Status(Status),
}

impl Failure {
    fn never_reached_upstream(&self) -> bool {
        match self {
            Failure::Connection(_) => true,
            Failure::Stream(e) => e.reason() == Some(h2::Reason::REFUSED_STREAM),
            Failure::Status(_) => false,
        }
    }

    /// The upstream never saw the call (a connection that had gone away, a refused stream):
    /// marked so, it is tried again even when it is a write.
    fn into_status(self) -> Status {
        let unsent = self.never_reached_upstream();
        let status = match self {
            Failure::Connection(e) => Status::unavailable(format!("upstream unavailable: {e}")),
            Failure::Stream(e) => stream_status(&e),
            Failure::Status(status) => status,
        };
        if unsent { retry::unsent(status) } else { status }
    }
}

/// A reset stream or a broken connection, as the gRPC status a client would see.
fn stream_status(e: &h2::Error) -> Status {
    match e.reason() {
        Some(h2::Reason::REFUSED_STREAM) => Status::unavailable(format!("upstream refused the call: {e}")),
        Some(h2::Reason::CANCEL) => Status::cancelled(format!("upstream cancelled the call: {e}")),
        Some(h2::Reason::ENHANCE_YOUR_CALM) => Status::resource_exhausted(format!("upstream is overloaded: {e}")),
        _ if e.is_io() || e.is_go_away() => Status::unavailable(format!("upstream connection lost: {e}")),
        _ => Status::internal(format!("upstream stream failed: {e}")),
    }
}

/// gRPC over HTTP/2's mapping of an HTTP status that is not 200 (a proxy answered, not the
/// service).
fn status_from_http(code: http::StatusCode) -> Status {
    let grpc = match code.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(grpc, format!("upstream answered HTTP {code}"))
}

/// `grpc-timeout` in milliseconds (at most 8 digits, as the spec allows).
fn grpc_timeout(timeout: Duration) -> String {
    let millis = timeout.as_millis().clamp(1, 99_999_999);
    format!("{millis}m")
}

/// The length-prefixed message of a gRPC body: no compression flag, big-endian length.
fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// The one message of a unary response body.
fn unframe(mut body: Bytes) -> Result<Bytes, Status> {
    if body.len() < 5 {
        return Err(Status::internal("upstream response has no message"));
    }
    let compressed = body.get_u8();
    let len = usize::try_from(body.get_u32()).unwrap_or(usize::MAX);
    if compressed != 0 {
        return Err(Status::internal("upstream compressed its response, which was not asked for"));
    }
    if body.len() != len {
        return Err(Status::internal(format!(
            "upstream response frame says {len} bytes but {} follow (a unary call has one message)",
            body.len()
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let framed = frame(b"hello");
        assert_eq!(&framed[..5], &[0, 0, 0, 0, 5]);
        assert_eq!(unframe(framed).unwrap(), Bytes::from_static(b"hello"));
        assert_eq!(unframe(frame(b"")).unwrap(), Bytes::new());
    }

    #[test]
    fn malformed_frames_are_internal_errors() {
        for body in [&b""[..], &[0, 0, 0], &[1, 0, 0, 0, 1, 9], &[0, 0, 0, 0, 2, 9], &[0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0]]
        {
            let status = unframe(Bytes::copy_from_slice(body)).unwrap_err();
            assert_eq!(status.code(), Code::Internal, "{body:?}");
        }
    }

    #[test]
    fn timeouts_are_milliseconds_within_eight_digits() {
        assert_eq!(grpc_timeout(Duration::from_secs(10)), "10000m");
        assert_eq!(grpc_timeout(Duration::ZERO), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(10_000_000)), "99999999m");
    }

    #[test]
    fn http_statuses_map_like_grpc_clients_do() {
        assert_eq!(status_from_http(http::StatusCode::SERVICE_UNAVAILABLE).code(), Code::Unavailable);
        assert_eq!(status_from_http(http::StatusCode::NOT_FOUND).code(), Code::Unimplemented);
        assert_eq!(status_from_http(http::StatusCode::IM_A_TEAPOT).code(), Code::Unknown);
    }

    #[tokio::test]
    async fn nothing_listening_is_unavailable_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = UnaryClient::new(&format!("http://{addr}"), 1, downstream()).unwrap();
        let path = PathAndQuery::from_static("/x.Y/Z");
        let status = client
            .call(&path, HeaderMap::new(), Bytes::new(), Duration::from_secs(5), Idempotency::NotIdempotent)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }

    #[tokio::test]
    async fn a_listener_that_accepts_and_hangs_up_is_not_reconnected_to_on_every_call() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepting = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        });
        let client = UnaryClient::new(&format!("http://{addr}"), 1, downstream()).unwrap();
        let path = PathAndQuery::from_static("/x.Y/Z");
        let started = tokio::time::Instant::now();
        let mut calls = 0;
        while started.elapsed() < Duration::from_millis(500) {
            let failed = client
                .call(&path, HeaderMap::new(), Bytes::new(), Duration::from_secs(1), Idempotency::NotIdempotent)
                .await;
            assert!(failed.is_err());
            calls += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Waits of 25-50, 50-100, 100-200 ms…: a handful in half a second, whatever the calls.
        assert!(calls >= 10 && client.dialer.attempts() <= 8, "{calls} calls, {} connects", client.dialer.attempts());
        accepting.abort();
    }

    #[test]
    fn tls_upstreams_are_refused_up_front() {
        assert!(UnaryClient::new("https://catalog:50052", 1, downstream()).is_err());
    }

    fn downstream() -> Downstream {
        let metrics = mercato_kit::client::ClientMetrics::register(&prometheus::Registry::new());
        Downstream::new("test", mercato_kit::client::DownstreamConfig::default(), metrics)
    }
}
