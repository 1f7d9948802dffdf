//! Database connection and migrations. Each service owns one database: a SQLite file under
//! `./data` by default (zero setup for `just dev`), PostgreSQL when `DATABASE_URL` says so.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use futures::future::BoxFuture;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sea_query::{Expr, ExprTrait, Order, Query},
    sqlx::{
        postgres::PgConnectOptions,
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    },
};
pub use sea_orm_migration::{MigrationTrait, MigratorTrait, async_trait::async_trait};

use crate::{
    admin::ReadinessCheck,
    config::{Problems, parse_count, parse_duration},
    secret::Secret,
};

/// Database flags, for binaries that own a database. Raw strings, parsed in [`DatabaseArgs::validate`]
/// so problems are reported together with every other flag's.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://path?mode=rwc` or `postgres://user:pass@host:port/db`
    /// [default: a SQLite file <data-dir>/<service>.db].
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Folder for the default SQLite database.
    #[arg(long, global = true, env = "DATA_DIR", default_value = "data")]
    pub data_dir: String,

    /// Most connections the database pool opens.
    #[arg(long, global = true, env = "DB_MAX_CONNECTIONS", default_value = "10")]
    pub db_max_connections: String,

    /// Connections the pool keeps open when idle.
    #[arg(long, global = true, env = "DB_MIN_CONNECTIONS", default_value = "1")]
    pub db_min_connections: String,

    /// Longest a single SQL statement may run (PostgreSQL; SQLite waits at most its busy timeout).
    #[arg(long, global = true, env = "DB_STATEMENT_TIMEOUT", default_value = "5s")]
    pub db_statement_timeout: String,

    /// How long a query waits for a free pooled connection (e.g. 5s, 500ms).
    #[arg(long, global = true, env = "DB_ACQUIRE_TIMEOUT", default_value = "5s")]
    pub db_acquire_timeout: String,
}

impl DatabaseArgs {
    /// Parses the flags, recording problems; `service` names the default SQLite file.
    pub fn validate(&self, service: &str, problems: &mut Problems) -> Option<DatabaseConfig> {
        let url = match &self.database_url {
            Some(url) => problems.check("DATABASE_URL (--database-url)", check_url(url).map(|()| url.clone())),
            None => Some(default_sqlite_url(&PathBuf::from(&self.data_dir), service)),
        };
        let max =
            problems.check("DB_MAX_CONNECTIONS (--db-max-connections)", parse_count(&self.db_max_connections, 1, 1000));
        let min =
            problems.check("DB_MIN_CONNECTIONS (--db-min-connections)", parse_count(&self.db_min_connections, 0, 1000));
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            problems.push(
                "DB_MIN_CONNECTIONS (--db-min-connections)",
                format!("{min} is more than DB_MAX_CONNECTIONS ({max})"),
            );
        }
        let acquire =
            problems.check("DB_ACQUIRE_TIMEOUT (--db-acquire-timeout)", parse_duration(&self.db_acquire_timeout));
        let statement =
            problems.check("DB_STATEMENT_TIMEOUT (--db-statement-timeout)", parse_duration(&self.db_statement_timeout));
        let (Some(url), Some(max_connections), Some(min_connections), Some(acquire_timeout), Some(statement_timeout)) =
            (url, max, min, acquire, statement)
        else {
            return None;
        };
        Some(DatabaseConfig {
            url: Secret::new(url),
            max_connections,
            min_connections,
            acquire_timeout,
            statement_timeout,
        })
    }
}

/// Validated database settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: Secret<String>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

/// SQLite waits this long for a competing writer before giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle this long is pinged before it is handed out; a busier one is not.
/// The pool's default pings on every acquire: a round trip to the database before each
/// statement, on the request's path, which doubled what every read cost PostgreSQL and the
/// service (a GetCart waited for two round trips for one SELECT). What the ping guards
/// against, a connection the server, a proxy or a firewall dropped, happens to connections
/// that sat idle; one that broke while busy fails its statement either way, and the pool then
/// discards it.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(10);

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
    if url.starts_with("postgres") {
        probe_postgres(url, config.acquire_timeout).await?;
    }
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_timeout(config.acquire_timeout)
        .statement_timeout(config.statement_timeout)
        .sqlx_logging(false)
        .test_before_acquire_if_idle_for(PING_WHEN_IDLE_FOR)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .create_if_missing(true)
        });
    let mut db = Database::connect(options).await?;
    crate::trace::db::instrument(&mut db);
    tracing::info!(database = %describe_url(url), backend = ?db.get_database_backend(), "database connected");
    Ok(db)
}

/// One connection before the pool's: the pool retries a refused connect until its acquire
/// timeout and then says only "pool timed out", where one attempt fails at once and says why.
async fn probe_postgres(url: &str, timeout: Duration) -> Result<(), DbErr> {
    use sea_orm::sqlx::Connection as _;
    let unreachable = |why: String| {
        DbErr::Conn(sea_orm::RuntimeErr::Internal(format!("cannot connect to {}: {why}", describe_url(url))))
    };
    let connection = tokio::time::timeout(timeout, sea_orm::sqlx::PgConnection::connect(url))
        .await
        .map_err(|_| unreachable(format!("no answer within {timeout:?}")))?
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = connection.close().await;
    Ok(())
}

/// Starts a transaction that will write. On SQLite it takes the write lock at BEGIN
/// (`BEGIN IMMEDIATE`): a transaction that reads before it writes then waits for other writers
/// (busy timeout) instead of failing with "database is locked" when it upgrades. On PostgreSQL
/// it is a plain BEGIN; row locks come from the statements.
///
/// The time it takes to begin is exported (`mercato_db_pool_acquire_wait_seconds`).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let started = std::time::Instant::now();
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await;
    crate::metrics::pool::observe_begin(started.elapsed());
    txn
}

/// Locks the rows of `table` whose `column` is one of `keys`, in ascending key order, until
/// the transaction ends. A transaction that will update several contended rows takes them
/// here first: every transaction then acquires them in the same order, so two of them wait
/// for each other instead of deadlocking (on PostgreSQL a deadlock costs `deadlock_timeout`
/// and a rollback). On SQLite it does nothing: the write lock taken at BEGIN
/// ([`begin_write`]) already serializes writers.
pub async fn lock_in_order<C: ColumnTrait>(
    txn: &DatabaseTransaction,
    column: C,
    keys: impl IntoIterator<Item = impl Into<String>>,
) -> Result<(), DbErr> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let mut keys: Vec<String> = keys.into_iter().map(Into::into).collect();
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    keys.dedup();
    let select = Query::select()
        .column(column)
        .from(column.entity_name())
        .and_where(Expr::col(column).is_in(keys))
        .order_by(column, Order::Asc)
        .lock_exclusive()
        .to_owned();
    txn.query_all(&select).await.map(drop)
}

/// Runs every pending migration of `M`.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    M::up(db, None).await
}

/// Declares `pub struct Migrator` running the kit's own migration (the outbox, processed
/// events) and then a service's migrations in order; each named module holds one `Migration`.
///
/// ```ignore
/// mercato_kit::migrator!(m0001_catalog, m0002_search_index);
/// ```
#[macro_export]
macro_rules! migrator {
    ($($migration:ident),+ $(,)?) => {
        /// This service's schema migrations, in the order they run.
        #[derive(Debug)]
        pub struct Migrator;

        #[$crate::db::async_trait]
        impl $crate::db::MigratorTrait for Migrator {
            fn migrations() -> Vec<Box<dyn $crate::db::MigrationTrait>> {
                let mut migrations = $crate::events::migration::kit();
                $(migrations.push(Box::new($migration::Migration));)+
                migrations
            }
        }
    };
}

/// A unique constraint refused the write (a taken email or SKU, a replayed id).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// /readyz check: the pool can hand out a connection that answers.
#[derive(Debug)]
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
