//! A connection's watchdog: it closes connections that hold a slot without using it.
//!
//! - Until its first request arrives, a connection has `header_timeout`: one that sends
//!   nothing, half an HTTP/2 preface, a preface and SETTINGS and nothing more, or half a
//!   request line is closed then.
//! - On an HTTP/1 connection between requests, once the next request's first bytes arrive,
//!   its head must be complete within `header_timeout`, or the server answers 408 and closes.
//! - With no request in flight, a connection is closed after `idle_timeout`.
//!
//! It works inside the connection's reads: the server keeps a read pending on every
//! connection it serves, so the watchdog's timer is polled there, and a request that ends wakes
//! that read to re-arm it. Requests are counted by the server's service through the
//! [`Activity`] the connection hands out ([`Activity::begin`]).

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use futures::task::AtomicWaker;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// The first bytes of every HTTP/2 connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const REQUEST_TIMEOUT_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// How long a connection may keep its slot without a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

/// What the server's service tells a connection's watchdog: requests in flight on it.
#[derive(Debug, Clone, Default)]
pub struct Activity(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    in_flight: AtomicUsize,
    /// Requests begun, ever: a change tells the reader that the head it was timing is done.
    begun: AtomicUsize,
    /// When the last request ended (none yet: `None`).
    idle_since: Mutex<Option<Instant>>,
    /// The connection's pending read, woken when the last request ends.
    reader: AtomicWaker,
}

impl Activity {
    /// A request has begun; it ends when the returned guard is dropped (keep it until the
    /// response body is done: a streaming response is not idle).
    pub fn begin(&self) -> InFlight {
        self.0.begun.fetch_add(1, Ordering::SeqCst);
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.0.clone())
    }

    fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::SeqCst)
    }

    fn begun(&self) -> usize {
        self.0.begun.load(Ordering::SeqCst)
    }

    fn idle_since(&self) -> Option<Instant> {
        self.0.idle_since.lock().ok().and_then(|at| *at)
    }

    /// Every read of the connection passes here: a lock-free register, not a mutex.
    fn park(&self, waker: &Waker) {
        self.0.reader.register(waker);
    }
}

/// One request in flight; see [`Activity::begin`].
#[derive(Debug)]
pub struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Ok(mut at) = self.0.idle_since.lock() {
                *at = Some(Instant::now());
            }
            self.0.reader.wake();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Unknown,
    Http1,
    Http2,
}

/// A connection under the watchdog. Reads and writes pass through; see the module docs.
pub struct Watched<IO> {
    inner: IO,
    activity: Activity,
    timeouts: Timeouts,
    connected_at: Instant,
    protocol: Protocol,
    /// HTTP/1: when bytes of a request arrived while none was in flight (a head under way).
    head_since: Option<Instant>,
    /// `Activity::begun` when `head_since` was last looked at.
    seen_begun: usize,
    timer: Pin<Box<Sleep>>,
    expired: bool,
    /// Held as long as the connection is (its place in the accept loop's counts).
    _keep: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl<IO> std::fmt::Debug for Watched<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").field("protocol", &self.protocol).field("expired", &self.expired).finish()
    }
}

impl<IO> Watched<IO> {
    pub fn new(inner: IO, timeouts: Timeouts) -> Self {
        let now = Instant::now();
        Self {
            inner,
            activity: Activity::default(),
            timeouts,
            connected_at: now,
            protocol: Protocol::Unknown,
            head_since: None,
            seen_begun: 0,
            timer: Box::pin(tokio::time::sleep_until(now + timeouts.header)),
            expired: false,
            _keep: None,
        }
    }

    /// The same, holding `keep` until the connection is dropped.
    pub fn keeping(mut self, keep: impl std::any::Any + Send + Sync) -> Self {
        self._keep = Some(Box::new(keep));
        self
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }

    /// What the server's service reports this connection's requests to.
    pub fn activity(&self) -> Activity {
        self.activity.clone()
    }

    /// When this connection must have done something by, if anything is owed.
    fn deadline(&self) -> Option<(Instant, Expiry)> {
        if self.activity.in_flight() > 0 {
            return None;
        }
        match (self.activity.idle_since(), self.head_since) {
            // Nothing served yet: the first request must come within the header timeout.
            (None, _) => Some((self.connected_at + self.timeouts.header, Expiry::NoRequest)),
            (Some(_), Some(head)) if self.protocol == Protocol::Http1 => {
                Some((head + self.timeouts.header, Expiry::SlowHead))
            }
            (Some(idle), _) => Some((idle + self.timeouts.idle, Expiry::Idle)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    NoRequest,
    SlowHead,
    Idle,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Watched<IO> {
    /// True when the connection's time is up: it is to read as closed.
    fn check(&mut self, cx: &mut Context<'_>) -> bool {
        if self.expired {
            return true;
        }
        self.activity.park(cx.waker());
        // A request began since the last look: the head being timed is complete; the next
        // one's clock starts with its own first bytes.
        let begun = self.activity.begun();
        if begun != self.seen_begun {
            self.seen_begun = begun;
            self.head_since = None;
        }
        let Some((deadline, expiry)) = self.deadline() else { return false };
        if Instant::now() < deadline {
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            // Registers the wake-up at the deadline.
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
        }
        self.expired = true;
        let partial_http1 = self.protocol == Protocol::Http1
            && (expiry == Expiry::SlowHead || (expiry == Expiry::NoRequest && self.head_since.is_some()));
        if partial_http1 {
            // No response is under way (no request is in flight): the 408 goes out alone. Best
            // effort: a client that does not read it loses nothing it was owed.
            let _ = Pin::new(&mut self.inner).poll_write(cx, REQUEST_TIMEOUT_408);
            let _ = Pin::new(&mut self.inner).poll_flush(cx);
        }
        true
    }

    fn note_read(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.protocol == Protocol::Unknown {
            let n = bytes.len().min(H2_PREFACE.len());
            self.protocol = if bytes[..n] == H2_PREFACE[..n] { Protocol::Http2 } else { Protocol::Http1 };
        }
        if self.protocol == Protocol::Http1 && self.activity.in_flight() == 0 && self.head_since.is_none() {
            self.head_since = Some(Instant::now());
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.check(cx) {
            // Read as closed: the server ends the connection.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.note_read(&buf.filled()[before..]);
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
