//! The database pool on /metrics: its connections in use and idle and its bound, read from
//! sqlx's pool at each scrape, and how long transactions waited to start.
//!
//! The wait is measured where the kit opens transactions ([`crate::db::begin_write`]), not
//! for every statement: sea-orm acquires a connection inside each
//! call and reports only the statement's own time to its metric callback, and sqlx tells the
//! acquire time to nothing but a tracing event. So the histogram is the time from asking the
//! pool to the transaction having begun: the wait for a connection (a new one's connect
//! included) plus the BEGIN round trip — on SQLite, `BEGIN IMMEDIATE`'s wait for the write
//! lock too, which is the wait that matters there. Statements run on the pool outside a
//! transaction are not in it.

use std::{sync::LazyLock, time::Duration};

use prometheus::{
    Histogram, HistogramOpts, IntGauge, IntGaugeVec, Opts, Registry, core::Collector, core::Desc, proto::MetricFamily,
};
use sea_orm::{DatabaseConnection, DatabaseConnectionType};

use super::gauge;

/// One per process, since a process has one pool; every server's registry exports it (tests
/// that run several services in one process see their sum).
static BEGIN_WAIT: LazyLock<Histogram> = LazyLock::new(|| {
    let opts = HistogramOpts::new(
        "mercato_db_pool_acquire_wait_seconds",
        "Time a transaction the kit opened waited to begin: for a pooled connection, then BEGIN \
         (on SQLite, BEGIN IMMEDIATE's wait for the write lock).",
    )
    .buckets(vec![0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]);
    // A constant, valid name: failure is a programming error the first test catches.
    #[allow(clippy::expect_used)]
    Histogram::with_opts(opts).expect("valid metric")
});

/// Records how long a transaction took to begin, whether or not it did (a pool timeout is
/// the longest wait of all).
pub(crate) fn observe_begin(waited: Duration) {
    BEGIN_WAIT.observe(waited.as_secs_f64());
}

/// Exports `db`'s pool into `registry`. The kit's service skeleton does it for every service
/// with a database (`service::App::build`).
pub fn register(registry: &Registry, db: &DatabaseConnection) {
    let _ = registry.register(Box::new(PoolCollector::new(db.clone())));
    let _ = registry.register(Box::new(BEGIN_WAIT.clone()));
}

/// See the module docs.
struct PoolCollector {
    db: DatabaseConnection,
    connections: IntGaugeVec,
    max_connections: IntGauge,
}

impl PoolCollector {
    fn new(db: DatabaseConnection) -> Self {
        let opts = Opts::new("mercato_db_pool_connections", "Connections the database pool holds, in use or idle.");
        // A constant, valid name and label: failure is a programming error the first test catches.
        #[allow(clippy::expect_used)]
        let connections = IntGaugeVec::new(opts, &["state"]).expect("valid metric");
        let max_connections = gauge("mercato_db_pool_max_connections", "The most connections the pool opens.");
        Self { db, connections, max_connections }
    }
}

/// (open, idle, bound) of the sqlx pool behind `db`, if it is one.
fn pool_state(db: &DatabaseConnection) -> Option<(u32, usize, u32)> {
    match &db.inner {
        DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            Some((pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            Some((pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        _ => None,
    }
}

impl Collector for PoolCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.connections.desc().into_iter().chain(self.max_connections.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some((open, idle, max)) = pool_state(&self.db) else { return Vec::new() };
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        // Read one after the other, the two can disagree by a connection handed out meanwhile.
        let in_use = (i64::from(open) - idle).max(0);
        self.connections.with_label_values(&["in_use"]).set(in_use);
        self.connections.with_label_values(&["idle"]).set(idle);
        self.max_connections.set(i64::from(max));
        self.connections.collect().into_iter().chain(self.max_connections.collect()).collect()
    }
}
