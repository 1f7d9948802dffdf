//! A real orders service for tests (feature `testing`): in-process, on free ports, verifying
//! tokens with a given identity's keys, on a given broker and catalog, through the kit's
//! [`Running`].

use mercato_kit::{
    service::Service,
    testing::{Running, TestDatabase, service_args},
};

use crate::Orders;

/// Starts orders on `database`, calling the catalog at `catalog_url` and using the broker at
/// `nats_url`, trusting tokens signed by the identity at `identity_url`, with `extra` flags.
/// It is ready when this returns.
pub async fn spawn(
    database: TestDatabase,
    identity_url: &str,
    catalog_url: &str,
    nats_url: &str,
    extra: &[&str],
) -> anyhow::Result<Running> {
    let mut args = service_args(Orders::DEFAULTS.name, &database);
    args.extend(
        ["--identity-url", identity_url, "--catalog-url", catalog_url, "--nats-url", nats_url].map(str::to_string),
    );
    args.extend(extra.iter().map(|a| a.to_string()));
    let running = Running::service::<Orders>(args, Some(database)).await?;
    running.wait_ready().await?;
    Ok(running)
}
