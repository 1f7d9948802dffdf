//! The connection to NATS and the streams a service needs, provisioned from code.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use async_nats::jetstream::{
    self,
    stream::{Config as StreamConfig, DiscardPolicy, StorageType},
};
use futures::future::BoxFuture;

use super::config::EventsConfig;
use crate::{
    admin::ReadinessCheck,
    nats::{NatsAuth, NatsConfig},
};

/// The dead-letter stream every service shares, on `dlq.<service>.<consumer>`.
pub const DLQ_STREAM: StreamSpec = StreamSpec { name: "DLQ", subjects: &["dlq.>"] };

/// `dlq.<service>.<consumer>`: where `consumer`'s dead letters go (`*`: all of the service's).
pub(crate) fn dlq_subject(service: &str, consumer: &str) -> String {
    format!("dlq.{service}.{consumer}")
}

/// A stream a context publishes into: `CATALOG` on `catalog.v1.>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    pub name: &'static str,
    pub subjects: &'static [&'static str],
}

/// JetStream requests (stream info, publish acks) that take longer than this fail, so a
/// worker backs off instead of hanging on a broker that went away.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnect delays grow to this cap, with jitter, so a broker restart is not met by a storm.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// A NATS connection and its JetStream context; cheap to clone.
#[derive(Clone, Debug)]
pub struct Broker {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    pub(crate) service: &'static str,
    pub(crate) version: &'static str,
    pub(crate) config: Arc<EventsConfig>,
}

impl Broker {
    /// Connects in the background: a service starts (and reports not ready) while NATS is
    /// down, and its workers wait for the broker rather than the process failing.
    pub async fn connect(
        nats: &NatsConfig,
        config: EventsConfig,
        service: &'static str,
        version: &'static str,
    ) -> anyhow::Result<Self> {
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("{service} {version}"))
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .reconnect_delay_callback(|attempts| {
                let exp = Duration::from_millis(100).saturating_mul(1 << attempts.min(8));
                let capped = exp.min(MAX_RECONNECT_DELAY);
                capped.mul_f64(0.5 + rand::random::<f64>() / 2.0)
            });
        options = match &nats.auth {
            NatsAuth::None => options,
            NatsAuth::CredsFile(path) => options
                .credentials_file(path)
                .await
                .with_context(|| format!("reading the NATS credentials file {}", path.display()))?,
            NatsAuth::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.expose().clone())
            }
            NatsAuth::Token(token) => options.token(token.expose().clone()),
        };
        let client = options.connect(nats.servers.clone()).await.context("connecting to NATS")?;
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(REQUEST_TIMEOUT);
        Ok(Self { client, jetstream, service, version, config: Arc::new(config) })
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn config(&self) -> &EventsConfig {
        &self.config
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Creates `spec`'s stream, or updates it to the configured limits. Several replicas may
    /// start at once: a create that loses the race becomes an update.
    pub async fn ensure_stream(&self, spec: StreamSpec) -> anyhow::Result<()> {
        let max_age = if spec == DLQ_STREAM { self.config.dlq_max_age } else { self.config.max_age };
        let config = StreamConfig {
            name: spec.name.to_string(),
            subjects: spec.subjects.iter().map(|s| s.to_string()).collect(),
            storage: StorageType::File,
            max_age,
            max_bytes: self.config.max_bytes,
            duplicate_window: self.config.duplicate_window,
            num_replicas: self.config.replicas,
            discard: DiscardPolicy::Old,
            allow_direct: true,
            ..Default::default()
        };
        let mut last = None;
        // Twice: a create that lost the race to another replica succeeds as an update.
        for _ in 0..2 {
            match self.jetstream.create_or_update_stream(config.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(anyhow::anyhow!("provisioning stream {}: {}", spec.name, last.map_or_else(String::new, |e| e.to_string())))
    }

    /// A readiness check: NATS is connected.
    pub fn readiness(&self) -> impl ReadinessCheck {
        NatsReady(self.client.clone())
    }
}

struct NatsReady(async_nats::Client);

impl ReadinessCheck for NatsReady {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.0.connection_state() {
                async_nats::connection::State::Connected => Ok(()),
                state => Err(format!("{state:?}").to_lowercase()),
            }
        })
    }
}
