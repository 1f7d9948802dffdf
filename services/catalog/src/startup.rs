//! What catalog adds to the kit's service skeleton: its gRPC services over one cache and change
//! feed, the seed on start, and the `seed` subcommand.

use std::path::Path;

use anyhow::Context;
use mercato::catalog::v1::{
    self as pb, catalog_service_server::CatalogServiceServer, stock_service_server::StockServiceServer,
};
use mercato_kit::{
    config::{Problems, ServiceDefaults},
    db,
    events::StreamSpec,
    service::{self, Service, Setup},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::{
    cache::ProductCache,
    commands::{Commit, Release, Reserve},
    config::{CatalogArgs, CatalogCommand, Settings},
    events,
    feed::StockFeed,
    grpc::{catalog::CatalogApi, stock::StockApi},
    migration::{Migrator, m0002_search_index},
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

    const STREAM: Option<StreamSpec> = Some(StreamSpec { name: events::STREAM, subjects: &["catalog.v1.>"] });

    fn settings(args: &CatalogArgs, problems: &mut Problems) -> Option<Settings> {
        args.validate(problems)
    }

    async fn build(setup: Setup<'_, Settings>) -> anyhow::Result<()> {
        let Setup { config, db, server, events } = setup;
        let events = events.context("catalog declares a stream, so it has events")?;
        if config.service.seed_on_start {
            load_seed(db, None).await?;
        }
        warn_if_search_scans(db).await;
        let cache = ProductCache::new(config.service.cache_ttl, config.service.cache_max_products);
        let feed = StockFeed::new(cache.clone());
        // Every replica follows the stream, so a change made on any of them reaches this
        // one's cache and WatchStock streams.
        let on_stock = feed.clone();
        server.workers().add(
            "stock-feed",
            events
                .follow::<pb::StockLevelChanged, _>(events::STREAM, move |e| on_stock.changed([e.product_id.as_str()])),
        );
        let on_product = feed.clone();
        server.workers().add(
            "product-feed",
            events.follow::<pb::ProductChanged, _>(events::STREAM, move |e| {
                if let Some(product) = e.product {
                    on_product.changed([product.id.as_str()]);
                }
            }),
        );
        // The checkout saga's commands, each kind its own durable consumer.
        server
            .workers()
            .add(
                "reserve-stock",
                events.consumer::<pb::ReserveStockCommand, _>("reserve-stock", events::STREAM, Reserve),
            )
            .add(
                "release-stock",
                events.consumer::<pb::ReleaseStockCommand, _>("release-stock", events::STREAM, Release),
            )
            .add("commit-stock", events.consumer::<pb::CommitStockCommand, _>("commit-stock", events::STREAM, Commit));
        let outbox = events.outbox().clone();
        let streams_stop = server.draining();
        server
            .add_service(CatalogServiceServer::new(CatalogApi::new(
                db.clone(),
                outbox.clone(),
                feed.clone(),
                cache,
                streams_stop,
            )))
            .add_service(StockServiceServer::new(StockApi::new(db.clone(), outbox, feed)));
        Ok(())
    }

    async fn run_command(command: CatalogCommand, _config: &Config, db: &DatabaseConnection) -> anyhow::Result<()> {
        match command {
            CatalogCommand::Seed { file } => load_seed(db, file.as_deref()).await,
        }
    }
}

/// On PostgreSQL, says so when the search's trigram indexes are missing (pg_trgm could not be
/// enabled): search still answers, by scanning every product.
async fn warn_if_search_scans(db: &DatabaseConnection) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let probe = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT 1 AS found FROM pg_indexes WHERE indexname = $1 AND schemaname = current_schema()",
        [m0002_search_index::NAME_INDEX.into()],
    );
    match db.query_one_raw(probe).await {
        Ok(Some(_)) => {}
        Ok(None) => tracing::warn!(
            index = m0002_search_index::NAME_INDEX,
            statements = %format_args!("CREATE EXTENSION pg_trgm; {}", m0002_search_index::CREATE_INDEXES),
            "pg_trgm was not enabled when catalog's migrations ran, so ListProducts' search scans \
             the whole table; a role that may should run these statements"
        ),
        Err(e) => tracing::warn!(error = %e, "could not check for the search index"),
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
