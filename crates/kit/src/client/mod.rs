//! Outbound calls: channels with the settings every service-to-service call should have
//! ([`channel`]), the connector under them ([`Connector`]), and the protection every call to
//! a downstream goes through ([`Downstream`]: bulkhead, circuit breaker, deadline, retries).

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

pub mod addresses;
mod args;
pub mod breaker;
mod connector;
mod downstream;
pub mod retry;

pub use args::DownstreamArgs;
pub use breaker::BreakerConfig;
pub use connector::{Connector, NotConnected, RECONNECT_CAP, is_self_connected};
pub use downstream::{ClientMetrics, Downstream, DownstreamConfig};
pub use retry::{Idempotency, RetryConfig};

/// A dead peer is noticed within this many seconds instead of a TCP timeout's minutes.
const KEEPALIVE: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A lazily connecting channel to `url` (`http://host:port`): HTTP/2 keepalive, a connect
/// timeout, TCP_NODELAY and [`Connector`]. Connecting lazily lets a service start before its
/// dependencies.
pub fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(endpoint(url)?.connect_with_connector_lazy(Connector::default()))
}

/// The same channel, its connects counted as `downstream`'s (`mercato_client_connects_total`).
pub fn observed_channel(url: &str, downstream: &Downstream) -> anyhow::Result<Channel> {
    Ok(endpoint(url)?.connect_with_connector_lazy(downstream.connector()))
}

fn endpoint(url: &str) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_while_idle(true))
}
