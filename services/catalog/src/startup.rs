//! Building the app (database, migrations, listeners) is separate from running it, so tests get
//! the real thing on port 0 without copying start-up code.

use std::{net::SocketAddr, path::Path};

use anyhow::Context;
use mercato::catalog::v1::{catalog_service_server::CatalogServiceServer, stock_service_server::StockServiceServer};
use mercato_kit::{Server, Shutdown, db};
use sea_orm::DatabaseConnection;

use crate::{
    cache::ProductCache,
    config::Config,
    feed::StockFeed,
    grpc::{catalog::CatalogApi, stock::StockApi},
    migration::Migrator,
    storage::seed,
};

pub struct App {
    server: Server,
    db: DatabaseConnection,
}

impl App {
    /// Connects, migrates, optionally seeds, and binds both listeners.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = connect_and_migrate(&config).await?;
        if config.seed_on_start {
            load_seed(&db, None).await?;
        }
        let mut server = Server::bind(&config.common).await?;
        server.readiness().add(db::DatabaseReady(db.clone()));
        let cache = ProductCache::default();
        let feed = StockFeed::new(cache.clone());
        let streams_stop = server.draining();
        server
            .add_service(CatalogServiceServer::new(CatalogApi::new(db.clone(), feed.clone(), cache, streams_stop)))
            .add_service(StockServiceServer::new(StockApi::new(db.clone(), feed)));
        Ok(Self { server, db })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.server.admin_addr()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until `shutdown`, drains, then closes the pool.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        self.server.run(shutdown).await?;
        self.db.close().await.context("closing the database pool")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// `catalog migrate`.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = connect_and_migrate(config).await?;
    db.close().await?;
    Ok(())
}

/// `catalog seed [--file F]`.
pub async fn seed(config: &Config, file: Option<&Path>) -> anyhow::Result<()> {
    let db = connect_and_migrate(config).await?;
    load_seed(&db, file).await?;
    db.close().await?;
    Ok(())
}

async fn connect_and_migrate(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let db = db::connect(&config.database).await.context("connecting to the database")?;
    db::migrate::<Migrator>(&db).await.context("running migrations")?;
    Ok(db)
}

async fn load_seed(db: &DatabaseConnection, file: Option<&Path>) -> anyhow::Result<()> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => seed::DEFAULT_SEED.to_string(),
    };
    let parsed = seed::parse(&text)?;
    let report = seed::load(db, &parsed).await.context("loading the seed catalog")?;
    tracing::info!(
        categories = report.categories,
        products = report.products,
        "seed catalog loaded (missing rows only)"
    );
    Ok(())
}
