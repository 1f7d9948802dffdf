//! Waiting for a server's `grpc.health.v1.Health/Check` (service "") to say SERVING.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::procs::Proc;

/// How often the probe retries: fine enough to time a start-up of a few milliseconds.
const POLL_EVERY: Duration = Duration::from_millis(1);

/// Polls `addr` every millisecond until it reports SERVING. Connection refused and NOT_SERVING
/// mean "not yet"; the process exiting or `deadline` passing are errors.
pub async fn wait_serving(addr: SocketAddr, proc: &mut Proc, deadline: Duration) -> anyhow::Result<()> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(1))
        .tcp_nodelay(true);
    let until = Instant::now() + deadline;
    let mut client: Option<HealthClient<Channel>> = None;
    let mut last = String::from("no attempt yet");
    loop {
        if let Some(status) = proc.exited()? {
            anyhow::bail!(
                "{} exited ({status}) before reporting SERVING; its log ends:{}",
                proc.name(),
                proc.log_tail(20)
            );
        }
        if client.is_none() {
            match endpoint.connect().await {
                Ok(channel) => client = Some(HealthClient::new(channel)),
                Err(e) => last = format!("connecting: {e}"),
            }
        }
        if let Some(health) = client.as_mut() {
            let request = HealthCheckRequest { service: String::new() };
            match health.check(request).await {
                Ok(response) => match response.into_inner().status() {
                    ServingStatus::Serving => return Ok(()),
                    other => last = format!("status {}", other.as_str_name()),
                },
                Err(status) => {
                    last = format!("Check failed: {status}");
                    client = None;
                }
            }
        }
        if Instant::now() >= until {
            return Err(anyhow::anyhow!("last result: {last}")).with_context(|| {
                format!("{} at {addr} not SERVING within {deadline:?}; its log ends:{}", proc.name(), proc.log_tail(20))
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
