//! A real catalog for tests (feature `testing`): in-process, on free ports, seeded, verifying
//! tokens with a given identity's keys. Catalog's own tests and the gateway's start it the same
//! way, through the kit's [`Running`].

use std::ops::Deref;

use mercato_kit::{
    service::Service,
    testing::{Running, TestDatabase, service_args},
};

use crate::Catalog;

/// A running test catalog; derefs to the kit's [`Running`] (addresses, `url()`).
#[derive(Debug)]
pub struct TestCatalog(Running);

impl TestCatalog {
    /// Starts catalog on `database` with the bundled seed, trusting tokens signed by the
    /// identity at `identity_url`. It has reported started when this returns.
    pub async fn spawn(database: TestDatabase, identity_url: &str) -> anyhow::Result<Self> {
        let mut args = service_args(Catalog::DEFAULTS.name, &database);
        args.extend(["--seed-on-start", "--identity-url", identity_url].map(str::to_string));
        Ok(Self(Running::service::<Catalog>(args, Some(database)).await?))
    }

    /// Triggers shutdown and waits (bounded) for catalog to drain and stop.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.0.stop().await
    }
}

impl Deref for TestCatalog {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.0
    }
}
