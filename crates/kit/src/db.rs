//! Database connection and migrations. Each service owns one database: a SQLite file under
//! `./data` by default (zero setup for `just dev`), PostgreSQL when `DATABASE_URL` says so.

use std::{path::Path, str::FromStr, time::Duration};

use futures::future::BoxFuture;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
    sqlx::{
        postgres::PgConnectOptions,
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    },
};
use sea_orm_migration::MigratorTrait;

use crate::{admin::ReadinessCheck, secret::Secret};

/// Validated database settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: Secret<String>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
}

/// SQLite waits this long for a competing writer before giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `sqlite://<data_dir>/<service>.db?mode=rwc`.
pub fn default_sqlite_url(data_dir: &Path, service: &str) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join(format!("{service}.db")).display())
}

/// Parses a URL as its driver would, without connecting.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url).map(|_| ()).map_err(|e| format!("not a valid SQLite URL: {e}"))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        PgConnectOptions::from_str(url).map(|_| ()).map_err(|e| format!("not a valid PostgreSQL URL: {e}"))
    } else {
        Err("unsupported or unparsable URL: expected sqlite://… or postgres://…".into())
    }
}

/// A loggable form of a URL: scheme, host and database, never credentials.
pub fn describe_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
            let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
            format!("{scheme}://{rest}")
        }
        None => "[unparsable]".into(),
    }
}

/// Opens the pool. For SQLite the file's folder is created, WAL is switched on (readers do not
/// block the writer) and competing writers wait instead of failing at once.
pub async fn connect(config: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    let url = config.url.expose();
    if let Some(path) = sqlite_file(url)
        && let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| DbErr::Custom(format!("creating {}: {e}", parent.display())))?;
    }
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_timeout(config.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .create_if_missing(true)
        });
    let db = Database::connect(options).await?;
    tracing::info!(database = %describe_url(url), backend = ?db.get_database_backend(), "database connected");
    Ok(db)
}

/// Starts a transaction that will write. On SQLite it takes the write lock at BEGIN
/// (`BEGIN IMMEDIATE`): a transaction that reads before it writes then waits for other writers
/// (busy timeout) instead of failing with "database is locked" when it upgrades. On PostgreSQL
/// it is a plain BEGIN; row locks come from the statements.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Runs every pending migration of `M`.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    M::up(db, None).await
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// /readyz check: the pool can hand out a connection that answers.
pub struct DatabaseReady(pub DatabaseConnection);

impl ReadinessCheck for DatabaseReady {
    fn name(&self) -> &'static str {
        "database"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.ping().await.map_err(|e| e.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_described_without_credentials() {
        assert!(check_url("sqlite://data/x.db?mode=rwc").is_ok());
        assert!(check_url("postgres://u:p@127.0.0.1:5432/db").is_ok());
        assert!(check_url("not a url").is_err());
        assert!(check_url("postgres://u:p@host:notaport/db").is_err());
        assert_eq!(describe_url("postgres://u:secret@db:5432/shop?sslmode=require"), "postgres://db:5432/shop");
        assert_eq!(sqlite_file("sqlite://data/x.db?mode=rwc"), Some("data/x.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }
}
