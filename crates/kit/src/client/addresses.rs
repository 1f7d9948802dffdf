//! Every address an upstream's name resolves to, used in turn: each new connection goes to the
//! next address, a name is resolved again every [`RESOLVE_EVERY`] (replicas come and go), and an
//! address that refused a connection is passed over for [`EJECT_FOR`] while others answer.

use std::{
    collections::HashMap,
    fmt, io,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::time::Instant;

/// How long a resolution is used before the name is resolved again.
pub const RESOLVE_EVERY: Duration = Duration::from_secs(30);
/// How long an address that failed is passed over (it is still tried when it is the last).
pub const EJECT_FOR: Duration = Duration::from_secs(5);

/// Turns a host and port into addresses; the system resolver unless a test says otherwise.
pub trait Resolve: Send + Sync + 'static {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>>;
}

/// The system's resolver (getaddrinfo, off the runtime's threads).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        let host = host.to_string();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), port)).await?.collect()) })
    }
}

/// See the module docs.
#[derive(Clone)]
pub struct Addresses {
    resolver: Arc<dyn Resolve>,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for Addresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock().map(|s| s.list.clone()).unwrap_or_default();
        f.debug_struct("Addresses").field("list", &state).finish_non_exhaustive()
    }
}

impl Default for Addresses {
    fn default() -> Self {
        Self::with_resolver(Arc::new(SystemResolver))
    }
}

#[derive(Debug, Default)]
struct State {
    list: Vec<SocketAddr>,
    resolved_at: Option<Instant>,
    next: usize,
    ejected: HashMap<SocketAddr, Instant>,
}

impl Addresses {
    pub fn with_resolver(resolver: Arc<dyn Resolve>) -> Self {
        Self { resolver, state: Arc::default() }
    }

    /// The addresses to try for the next connection, in order: the live ones from the next in
    /// turn, then the ejected ones, soonest back first.
    pub async fn candidates(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let stale = self
            .state
            .lock()
            .map(|s| s.list.is_empty() || s.resolved_at.is_none_or(|at| at.elapsed() >= RESOLVE_EVERY))
            .unwrap_or(true);
        if stale {
            match self.resolver.resolve(host, port).await {
                Ok(list) if !list.is_empty() => {
                    if let Ok(mut state) = self.state.lock() {
                        state.ejected.retain(|addr, _| list.contains(addr));
                        state.list = list;
                        state.resolved_at = Some(Instant::now());
                    }
                }
                // A resolver that fails keeps the last answer in use, if there is one.
                Ok(_) => tracing::warn!(host, "the name resolves to no address"),
                Err(e) => tracing::warn!(host, error = %e, "cannot resolve the name"),
            }
        }
        let mut state = self.state.lock().map_err(|_| io::Error::other("address list poisoned"))?;
        if state.list.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{host} resolves to no address")));
        }
        let now = Instant::now();
        state.ejected.retain(|_, until| *until > now);
        let start = state.next % state.list.len();
        state.next = state.next.wrapping_add(1);
        let turn = state.list[start..].iter().chain(&state.list[..start]).copied();
        let (mut live, mut ejected): (Vec<_>, Vec<_>) = turn.partition(|addr| !state.ejected.contains_key(addr));
        ejected.sort_by_key(|addr| state.ejected.get(addr).copied());
        live.append(&mut ejected);
        Ok(live)
    }

    /// `addr` failed a connection: pass it over for a while.
    pub fn eject(&self, addr: SocketAddr) {
        if let Ok(mut state) = self.state.lock() {
            state.ejected.insert(addr, Instant::now() + EJECT_FOR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever it was last told.
    struct Fixed(Mutex<Vec<SocketAddr>>);

    impl Resolve for Fixed {
        fn resolve(&self, _: &str, _: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
            let list = self.0.lock().unwrap().clone();
            Box::pin(async move { Ok(list) })
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test(start_paused = true)]
    async fn addresses_are_used_in_turn_an_ejected_one_goes_last_and_a_new_resolution_is_taken() {
        let resolver = Arc::new(Fixed(Mutex::new(vec![addr(1), addr(2), addr(3)])));
        let addresses = Addresses::with_resolver(resolver.clone());
        let firsts: Vec<_> = futures::future::join_all((0..6).map(|_| addresses.candidates("x", 1)))
            .await
            .into_iter()
            .map(|c| c.unwrap()[0])
            .collect();
        assert_eq!(firsts, [addr(1), addr(2), addr(3), addr(1), addr(2), addr(3)]);

        addresses.eject(addr(2));
        for _ in 0..3 {
            let order = addresses.candidates("x", 1).await.unwrap();
            assert_eq!(order.last(), Some(&addr(2)), "{order:?}");
        }
        tokio::time::advance(EJECT_FOR).await;
        let back: Vec<_> =
            futures::future::join_all((0..3).map(|_| addresses.candidates("x", 1))).await.into_iter().collect();
        assert!(back.iter().any(|c| c.as_ref().unwrap()[0] == addr(2)), "back in turn after {EJECT_FOR:?}");

        *resolver.0.lock().unwrap() = vec![addr(4)];
        assert_eq!(addresses.candidates("x", 1).await.unwrap()[0], addr(1), "the old answer holds for a while");
        tokio::time::advance(RESOLVE_EVERY).await;
        assert_eq!(addresses.candidates("x", 1).await.unwrap(), [addr(4)]);

        *resolver.0.lock().unwrap() = vec![];
        tokio::time::advance(RESOLVE_EVERY).await;
        assert_eq!(addresses.candidates("x", 1).await.unwrap(), [addr(4)], "an empty answer is not taken");
    }
}
