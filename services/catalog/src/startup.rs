//! What catalog adds to the kit's service skeleton: its gRPC services over one cache and change
//! feed, the seed on start, and the `seed` subcommand.

use std::path::Path;

use anyhow::Context;
use mercato::catalog::v1::{catalog_service_server::CatalogServiceServer, stock_service_server::StockServiceServer};
use mercato_kit::{
    Server,
    config::{Problems, ServiceDefaults},
    db,
    service::{self, Service},
};
use sea_orm::DatabaseConnection;

use crate::{
    cache::ProductCache,
    config::{CatalogArgs, CatalogCommand, Settings},
    feed::StockFeed,
    grpc::{catalog::CatalogApi, stock::StockApi},
    migration::Migrator,
    storage::seed,
};

/// The catalog service.
#[derive(Debug)]
pub struct Catalog;

/// catalog's configuration.
pub type Config = service::Config<Settings>;

impl Service for Catalog {
    const DEFAULTS: ServiceDefaults =
        ServiceDefaults { name: "catalog", version: env!("CARGO_PKG_VERSION"), grpc_port: 50052, admin_port: 9082 };
    const ABOUT: &'static str = "mercato catalog: products, categories, inventory and stock reservations.";

    type Args = CatalogArgs;
    type Command = CatalogCommand;
    type Settings = Settings;
    type Migrator = Migrator;

    fn settings(args: &CatalogArgs, problems: &mut Problems) -> Option<Settings> {
        args.validate(problems)
    }

    async fn build(config: &Config, db: &DatabaseConnection, server: &mut Server) -> anyhow::Result<()> {
        if config.service.seed_on_start {
            load_seed(db, None).await?;
        }
        let cache = ProductCache::default();
        let feed = StockFeed::new(cache.clone());
        let streams_stop = server.draining();
        server
            .add_service(CatalogServiceServer::new(CatalogApi::new(db.clone(), feed.clone(), cache, streams_stop)))
            .add_service(StockServiceServer::new(StockApi::new(db.clone(), feed)));
        Ok(())
    }

    async fn run_command(command: CatalogCommand, _config: &Config, db: &DatabaseConnection) -> anyhow::Result<()> {
        match command {
            CatalogCommand::Seed { file } => load_seed(db, file.as_deref()).await,
        }
    }
}

async fn load_seed(db: &DatabaseConnection, file: Option<&Path>) -> anyhow::Result<()> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => seed::DEFAULT_SEED.to_string(),
    };
    let parsed = seed::parse(&text)?;
    let txn = db::begin_write(db).await?;
    let report = seed::load(&txn, &parsed).await.context("loading the seed catalog")?;
    txn.commit().await.context("committing the seed catalog")?;
    tracing::info!(
        categories = report.categories,
        products = report.products,
        "seed catalog loaded (missing rows only)"
    );
    Ok(())
}
