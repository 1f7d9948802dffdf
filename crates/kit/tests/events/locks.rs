//! `db::lock_in_order`, which consumers' `prepare` hooks use to take contended rows in one
//! global order.

use std::time::Duration;

use mercato_kit::{
    db,
    testing::{Backend, TestDatabase, eventually},
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, FromQueryResult, Statement, TransactionTrait};

mod row {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lockable")]
    pub(super) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(super) key: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(super) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

async fn lockable(backend: Backend) -> (TestDatabase, DatabaseConnection) {
    let database = TestDatabase::create(backend).await.unwrap();
    let db = Database::connect(database.url()).await.unwrap();
    db.execute_unprepared("CREATE TABLE lockable (key VARCHAR(8) PRIMARY KEY)").await.unwrap();
    db.execute_unprepared("INSERT INTO lockable (key) VALUES ('x'), ('y')").await.unwrap();
    (database, db)
}

/// How many sessions of this database wait for a lock.
async fn waiting(db: &DatabaseConnection) -> i64 {
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let sql =
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let stmt = Statement::from_string(db.get_database_backend(), sql);
    Count::find_by_statement(stmt).one(db).await.unwrap().map_or(0, |c| c.n)
}

/// A holds x and will want y; B wants y and x. Taken as asked (y, then x) B would hold y while
/// waiting for x, and A's request for y would deadlock. In order, B waits for x holding
/// nothing, so A gets y at once, commits, and B goes on.
#[tokio::test]
async fn on_postgres_rows_are_locked_in_key_order_so_crossed_requests_queue_instead_of_deadlocking() {
    let (_database, db) = lockable(Backend::Postgres).await;
    let a = db.begin().await.unwrap();
    // A deadlock or a lock never granted fails the test instead of hanging it.
    a.execute_unprepared("SET LOCAL lock_timeout = '10s'").await.unwrap();
    db::lock_in_order(&a, row::Column::Key, ["x"]).await.unwrap();

    let b_db = db.clone();
    let b = tokio::spawn(async move {
        let b = b_db.begin().await?;
        b.execute_unprepared("SET LOCAL lock_timeout = '10s'").await?;
        db::lock_in_order(&b, row::Column::Key, ["y", "x"]).await?;
        b.commit().await
    });
    eventually(Duration::from_secs(10), "B waiting for x", || async { (waiting(&db).await == 1).then_some(()) }).await;

    db::lock_in_order(&a, row::Column::Key, ["y"]).await.expect("y was free: B had not taken it before x");
    a.commit().await.unwrap();
    b.await.unwrap().expect("B got both rows once A committed");
}

/// SQLite's writers hold the database's write lock from BEGIN: there is nothing to lock row by
/// row, and no statement is sent (this table does not even exist).
#[tokio::test]
async fn on_sqlite_locking_in_order_is_a_no_op() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let db = Database::connect(database.url()).await.unwrap();
    let txn = db::begin_write(&db).await.unwrap();
    db::lock_in_order(&txn, row::Column::Key, ["y", "x"]).await.unwrap();
    txn.commit().await.unwrap();
}
