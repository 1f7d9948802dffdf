//! The accept loop every server of the mesh shares: connection limits (in all, and per client
//! IP), the watchdog on each connection, and a back-off when the process is out of file
//! descriptors instead of a hot loop of failed accepts.

use std::{
    collections::HashMap,
    io,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::net::{TcpListener, TcpStream};

use super::watch::{Activity, Timeouts, Watched};
use crate::log_budget::LogBudget;

/// Longest pause after a failed accept (EMFILE and the like), doubling from 10 ms.
const ACCEPT_BACKOFF_CAP: Duration = Duration::from_secs(1);
/// Refusals and accept failures are logged at most this often a second, with a count.
const LINES_PER_SECOND: u32 = 1;

/// What a server lets connections do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections in all; one more is closed at once.
    pub max_connections: usize,
    /// Open connections from one client IP.
    pub max_per_ip: usize,
    pub timeouts: Timeouts,
}

/// A listener whose accepted connections respect [`ConnLimits`].
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    limits: ConnLimits,
    open: Arc<Open>,
    failures: u32,
    refusals: LogBudget,
    errors: LogBudget,
}

#[derive(Debug, Default)]
struct Open {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    total: std::sync::atomic::AtomicUsize,
}

impl Acceptor {
    pub fn new(listener: TcpListener, limits: ConnLimits) -> Self {
        Self {
            listener,
            limits,
            open: Arc::default(),
            failures: 0,
            refusals: LogBudget::per_second(LINES_PER_SECOND),
            errors: LogBudget::per_second(LINES_PER_SECOND),
        }
    }

    /// The next connection within the limits. Over them, a connection is closed as soon as it
    /// is accepted (the kernel had completed its handshake already); a failed accept is
    /// retried after a pause that grows while it keeps failing.
    pub async fn accept(&mut self) -> Conn {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => {
                    self.failures = 0;
                    accepted
                }
                Err(e) => {
                    self.failures = self.failures.saturating_add(1);
                    let pause =
                        crate::backoff::exponential(Duration::from_millis(10), ACCEPT_BACKOFF_CAP, self.failures);
                    if let Some(suppressed) = self.errors.admit() {
                        // Out of file descriptors (EMFILE/ENFILE) is the usual cause: raise the
                        // limit (see the README) or lower MAX_CONNECTIONS below it.
                        tracing::warn!(error = %e, suppressed, pause = ?pause, "accept failed; pausing");
                    }
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            match self.admit(peer.ip()) {
                Ok(slot) => {
                    let _ = stream.set_nodelay(true);
                    return Watched::new(stream, self.limits.timeouts).keeping(slot);
                }
                Err(why) => {
                    if let Some(suppressed) = self.refusals.admit() {
                        tracing::warn!(client_ip = %peer.ip(), why, suppressed, "connection refused");
                    }
                    // Reset rather than close: nothing of it lingers in TIME-WAIT here.
                    let _ = stream.set_zero_linger();
                    drop(stream);
                }
            }
        }
    }

    /// The accepted connections as a stream (what tonic's servers serve).
    pub fn into_incoming(self) -> impl futures::Stream<Item = io::Result<Conn>> {
        futures::stream::unfold(self, |mut acceptor| async move { Some((Ok(acceptor.accept().await), acceptor)) })
    }

    fn admit(&self, ip: IpAddr) -> Result<Slot, &'static str> {
        use std::sync::atomic::Ordering;
        let mut per_ip = self.open.per_ip.lock().map_err(|_| "poisoned")?;
        if self.open.total.load(Ordering::SeqCst) >= self.limits.max_connections {
            return Err("the server is at its connection limit");
        }
        let mine = per_ip.entry(ip).or_insert(0);
        if *mine >= self.limits.max_per_ip {
            return Err("this client is at its connection limit");
        }
        *mine += 1;
        self.open.total.fetch_add(1, Ordering::SeqCst);
        Ok(Slot { open: self.open.clone(), ip })
    }
}

/// An open connection's place in the counts, given back when it closes.
#[derive(Debug)]
struct Slot {
    open: Arc<Open>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.total.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut per_ip) = self.open.per_ip.lock()
            && let Some(count) = per_ip.get_mut(&self.ip)
        {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// An accepted connection: the watched stream, holding its place in the limits.
pub type Conn = Watched<TcpStream>;

impl Conn {
    /// The client's address (unspecified if the socket can no longer tell).
    pub fn peer(&self) -> SocketAddr {
        self.get_ref().peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}

/// tonic's servers take the connection's details from here into each request's extensions.
impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo { peer: self.peer(), activity: self.activity() }
    }
}

/// A request's connection, as tonic hands it to the service.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub activity: Activity,
}
