//! A real shipping service for tests (feature `testing`): in-process, on free ports, verifying
//! tokens with a given identity's keys, on a given nats-server, through the kit's [`Running`].

use std::ops::Deref;

use mercato_kit::{
    service::Service,
    testing::{Running, TestDatabase, service_args},
};

use crate::Shipping;

/// A running test shipping service; derefs to the kit's [`Running`] (addresses, `url()`, db).
#[derive(Debug)]
pub struct TestShipping {
    running: Running,
}

impl TestShipping {
    /// Starts shipping on `database` (which the caller keeps, so that a restart finds the same
    /// rows) and the nats-server at `nats_url`, trusting tokens signed by the identity at
    /// `identity_url`, with `extra` flags. It is ready when this returns.
    pub async fn spawn(
        database: &TestDatabase,
        identity_url: &str,
        nats_url: &str,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let mut args = service_args(Shipping::DEFAULTS.name, database);
        args.extend(["--identity-url", identity_url, "--nats-url", nats_url].map(str::to_string));
        args.extend(extra.iter().map(|a| a.to_string()));
        let running = Running::service::<Shipping>(args, None).await?;
        running.wait_ready().await?;
        Ok(Self { running })
    }

    /// Triggers shutdown and waits (bounded) for shipping to drain and stop.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.stop().await
    }
}

impl Deref for TestShipping {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.running
    }
}
