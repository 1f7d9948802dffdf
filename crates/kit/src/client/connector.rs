//! The TCP connector of every outbound connection: it keeps a dead upstream from costing a
//! connect per call.
//!
//! - After a failed connect the channel fails fast (UNAVAILABLE) until a jittered,
//!   exponentially growing wait has passed (capped at [`RECONNECT_CAP`], so a restarted
//!   upstream is reached within about a second): a burst of calls against a dead upstream is
//!   a handful of connects per second, not one or two per call.
//! - A connection whose local and peer address are the same is refused. On loopback, a
//!   connect to a port nobody listens on can be given that very port as its own source port
//!   (it lies in the ephemeral range) and connect to itself; held open, it keeps the upstream
//!   from binding its port when it restarts.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, time::Instant};

use super::addresses::{Addresses, Resolve};

/// The first wait after a failed connect, doubling per failure up to the cap.
const RECONNECT_START: Duration = Duration::from_millis(50);
pub const RECONNECT_CAP: Duration = Duration::from_millis(800);
/// Self-connects are rare; a few fresh attempts get a different source port.
const SELF_CONNECT_ATTEMPTS: usize = 3;

/// TCP connects for one channel, with the backoff and self-connect guard of the module docs.
#[derive(Debug, Clone, Default)]
pub struct Connector {
    state: Arc<Mutex<Backoff>>,
    addresses: Addresses,
    /// Where connects are counted (`mercato_client_connects_total`), if anywhere.
    observed: Option<(&'static str, prometheus::IntCounterVec)>,
}

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    next_attempt: Option<Instant>,
    /// Connects tried (one per address tried), ever: for tests and curiosity.
    attempts: u64,
}

impl Backoff {
    /// How long until the next connect may be tried, if it must wait.
    fn wait(&self) -> Option<Duration> {
        self.next_attempt.and_then(|at| at.checked_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    /// A TCP connect tried. A success lifts the wait but keeps the count of failures: the
    /// connection is only good once its protocol handshake is (see [`Connector::connected`]).
    fn record(&mut self, connected: bool) {
        if connected {
            self.next_attempt = None;
        } else {
            self.fail();
        }
    }

    fn fail(&mut self) {
        self.failures = self.failures.saturating_add(1);
        self.next_attempt = Some(Instant::now() + reconnect_wait(self.failures));
    }
}

/// `start × 2^(failures-1)`, capped, then between half and all of it: spread out, never zero.
fn reconnect_wait(failures: u32) -> Duration {
    crate::backoff::exponential(RECONNECT_START, RECONNECT_CAP, failures).mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// For tonic's channels, which do their HTTP/2 handshake out of sight: a TCP connection
    /// counts as a good one.
    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move {
            let stream = connector.dial(&uri).await?;
            connector.connected();
            Ok(TokioIo::new(stream))
        })
    }
}

impl Connector {
    /// Counts its connects in `metrics`, labelled `downstream`.
    pub fn observed(downstream: &'static str, metrics: &super::ClientMetrics) -> Self {
        Self { observed: Some((downstream, metrics.connects.clone())), ..Self::default() }
    }

    /// Resolving names with `resolver` (tests: several addresses for one name).
    pub fn resolving_with(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.addresses = Addresses::with_resolver(resolver);
        self
    }

    /// The connection [`Self::dial`] made is good (its protocol handshake succeeded): the
    /// next failure waits the shortest time again.
    pub fn connected(&self) {
        if let Ok(mut backoff) = self.state.lock() {
            backoff.failures = 0;
        }
    }

    /// The connection [`Self::dial`] made to `peer` is no good after all (it accepted and
    /// then failed the handshake, or closed): pass `peer` over for a while, and wait before the
    /// next connect as after a refused one.
    pub fn failed(&self, peer: SocketAddr) {
        self.addresses.eject(peer);
        if let Ok(mut backoff) = self.state.lock() {
            backoff.fail();
        }
        self.count("handshake_failed");
    }

    fn count(&self, result: &str) {
        if let Some((downstream, connects)) = &self.observed {
            connects.with_label_values(&[downstream, result]).inc();
        }
    }

    /// How many connects this connector has tried.
    pub fn attempts(&self) -> u64 {
        self.state.lock().map_or(0, |b| b.attempts)
    }

    /// A TCP connection to `uri`'s host and port, or at once an error while the backoff after
    /// a failed connect lasts.
    pub async fn dial(&self, uri: &Uri) -> io::Result<TcpStream> {
        let waiting = self.state.lock().map(|b| b.wait().map(|wait| (wait, b.failures))).unwrap_or(None);
        if let Some((wait, failures)) = waiting {
            return Err(NotConnected::error(
                io::ErrorKind::ConnectionRefused,
                format!("{uri}: not reconnecting for another {wait:?} after {failures} failed attempt(s)"),
            ));
        }
        let result = self.connect(uri).await;
        if let Ok(mut backoff) = self.state.lock() {
            backoff.record(result.is_ok());
        }
        result.map_err(|e| NotConnected::error(e.kind(), e.to_string()))
    }

    /// A connection to the first of `uri`'s addresses that takes one (see [`Addresses`]).
    async fn connect(&self, uri: &Uri) -> io::Result<TcpStream> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{uri}: {what}"));
        let host = uri.host().ok_or_else(|| invalid("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let mut last = invalid("resolves to no address");
        for addr in self.addresses.candidates(host, port).await? {
            if let Ok(mut backoff) = self.state.lock() {
                backoff.attempts += 1;
            }
            match connect_to(addr).await {
                Ok(stream) => {
                    self.count("ok");
                    return Ok(stream);
                }
                Err(e) => {
                    self.count("failed");
                    self.addresses.eject(addr);
                    last = e;
                }
            }
        }
        Err(last)
    }
}

/// A connect that failed (or was not tried): nothing of any call was sent, so the call is
/// safe to retry (see [`super::retry::is_unsent`]).
#[derive(Debug)]
pub struct NotConnected(String);

impl NotConnected {
    fn error(kind: io::ErrorKind, message: String) -> io::Error {
        io::Error::new(kind, Self(message))
    }
}

impl std::fmt::Display for NotConnected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotConnected {}

/// A connection to `addr`, never one to itself.
async fn connect_to(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::ConnectionRefused, format!("{addr}: connected to itself"));
    for _ in 0..SELF_CONNECT_ATTEMPTS {
        match TcpStream::connect(addr).await {
            Ok(stream) if is_self_connected(&stream) => {
                // Reset, not close: a close would leave the port in TIME-WAIT.
                let _ = stream.set_zero_linger();
                drop(stream);
                last = io::Error::new(io::ErrorKind::ConnectionRefused, format!("{addr}: connected to itself"));
            }
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// A TCP self-connect: the kernel gave the socket the peer's own address as its source.
pub fn is_self_connected(stream: &TcpStream) -> bool {
    let ends: (io::Result<SocketAddr>, io::Result<SocketAddr>) = (stream.local_addr(), stream.peer_addr());
    matches!(ends, (Ok(local), Ok(peer)) if local == peer)
}

#[cfg(test)]
mod tests {
    use tonic::transport::Endpoint;

    use super::*;

    #[test]
    fn the_reconnect_wait_grows_to_its_cap_and_is_never_zero() {
        for failures in 1..40 {
            let wait = reconnect_wait(failures);
            assert!(wait <= RECONNECT_CAP && wait >= RECONNECT_START / 2, "{failures}: {wait:?}");
        }
        assert!((0..50).all(|_| reconnect_wait(1) <= RECONNECT_START));
    }

    #[tokio::test]
    async fn a_socket_connected_to_itself_is_recognised() {
        // Bind, then connect to the very address bound: TCP's simultaneous open to itself.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let stream = socket.connect(addr).await.unwrap();
        assert!(is_self_connected(&stream));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        assert!(!is_self_connected(&other));
    }

    /// Two given addresses for one name.
    struct Both([std::net::SocketAddr; 2]);

    impl Resolve for Both {
        fn resolve(
            &self,
            _: &str,
            _: u16,
        ) -> futures::future::BoxFuture<'static, io::Result<Vec<std::net::SocketAddr>>> {
            let list = self.0.to_vec();
            Box::pin(async move { Ok(list) })
        }
    }

    #[tokio::test]
    async fn connections_alternate_between_a_names_addresses_and_pass_over_a_dead_one() {
        let (a, b) = (
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        );
        let addrs = [a.local_addr().unwrap(), b.local_addr().unwrap()];
        let connector = Connector::default().resolving_with(Arc::new(Both(addrs)));
        let uri: Uri = "http://upstream.example:50052".parse().unwrap();
        let mut peers = Vec::new();
        for _ in 0..6 {
            peers.push(connector.dial(&uri).await.unwrap().peer_addr().unwrap());
        }
        assert_eq!(peers.iter().filter(|p| **p == addrs[0]).count(), 3, "{peers:?}");
        assert_eq!(peers.iter().filter(|p| **p == addrs[1]).count(), 3, "{peers:?}");

        drop(a);
        let before = connector.attempts();
        for _ in 0..6 {
            assert_eq!(connector.dial(&uri).await.unwrap().peer_addr().unwrap(), addrs[1]);
        }
        assert_eq!(connector.attempts() - before, 6 + 1, "the dead address is tried once, then passed over");
        drop(b);
    }

    #[tokio::test]
    async fn after_a_failed_connect_the_next_ones_fail_fast_until_the_wait_is_over() {
        // A port nobody listens on.
        let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let uri: Uri = format!("http://{addr}").parse().unwrap();
        let mut connector = Connector::default();
        let first = tower::Service::call(&mut connector, uri.clone()).await.unwrap_err();
        assert!(!first.to_string().contains("not reconnecting"), "the first one is tried: {first}");
        let second = tower::Service::call(&mut connector, uri.clone()).await.unwrap_err();
        assert!(second.to_string().contains("not reconnecting"), "{second}");
        assert_eq!(connector.attempts(), 1);
    }

    #[tokio::test]
    async fn a_dead_upstream_costs_a_few_connects_per_second_and_is_reached_soon_after_it_returns() {
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let connector = Connector::default();
        let channel =
            Endpoint::from_shared(format!("http://{addr}")).unwrap().connect_with_connector_lazy(connector.clone());
        let mut client = HealthClient::new(channel);
        let (started, mut calls) = (Instant::now(), 0);
        while started.elapsed() < Duration::from_secs(1) {
            let refused = client.check(HealthCheckRequest::default()).await.unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused}");
            calls += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Waits of 25-50, 50-100, … ms, capped at 400-800: a handful per second, whatever the calls.
        assert!(calls > 20 && connector.attempts() <= 10, "{calls} calls, {} connects", connector.attempts());

        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let (_reporter, health) = tonic_health::server::health_reporter();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let back = Instant::now();
        while client.check(HealthCheckRequest::default()).await.is_err() {
            assert!(back.elapsed() < RECONNECT_CAP * 5, "not reached {:?} after it came back", back.elapsed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.abort();
    }
}
