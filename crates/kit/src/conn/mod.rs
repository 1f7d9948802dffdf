//! Connections: what a server accepts ([`Acceptor`]: limits in all and per client IP, a
//! back-off on EMFILE) and how long each may hold its slot without a request (the watchdog,
//! [`watch`]). The gateway and every kit server accept through it.

mod accept;
mod args;
mod track;
pub mod watch;

pub use accept::{Acceptor, Conn, ConnInfo, ConnLimits};
pub use args::{ServeArgs, ServeLimits};
pub use track::{TrackLayer, Tracked};
pub use watch::{Activity, InFlight, Timeouts};
