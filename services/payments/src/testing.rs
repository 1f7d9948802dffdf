//! A real payments service for tests (feature `testing`): in-process, on free ports, verifying
//! tokens with a given identity's keys, with a nats-server of its own, through the kit's
//! [`Running`].

use std::ops::Deref;

use mercato_kit::{
    service::Service,
    testing::{Running, TestDatabase, TestNats, service_args},
};

use crate::Payments;

/// A running test payments service; derefs to the kit's [`Running`] (addresses, `url()`).
#[derive(Debug)]
pub struct TestPayments {
    running: Running,
    /// The broker this payments service consumes from and publishes to.
    pub nats: TestNats,
}

impl TestPayments {
    /// Starts payments on `database` with a nats-server of its own,
    /// trusting tokens signed by the identity at `identity_url`. It has reported started when
    /// this returns.
    pub async fn spawn(database: TestDatabase, identity_url: &str) -> anyhow::Result<Self> {
        Self::spawn_with(database, identity_url, &[]).await
    }

    /// The same, with `extra` flags.
    pub async fn spawn_with(database: TestDatabase, identity_url: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let nats = TestNats::start().await?;
        let mut args = service_args(Payments::DEFAULTS.name, &database);
        args.extend(["--identity-url", identity_url, "--nats-url", &nats.url()].map(str::to_string));
        args.extend(extra.iter().map(|a| a.to_string()));
        let running = Running::service::<Payments>(args, Some(database)).await?;
        running.wait_ready().await?;
        Ok(Self { running, nats })
    }

    /// Triggers shutdown and waits (bounded) for payments to drain and stop.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.stop().await
    }
}

impl Deref for TestPayments {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.running
    }
}
