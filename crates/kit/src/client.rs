//! Outbound gRPC channels with the settings every service-to-service call should have.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// A dead peer is noticed within this many seconds instead of a TCP timeout's minutes.
const KEEPALIVE: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A lazily connecting channel to `url` (`http://host:port`): HTTP/2 keepalive, a connect
/// timeout and TCP_NODELAY. Connecting lazily lets a service start before its dependencies.
pub fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true)
        .connect_lazy())
}
