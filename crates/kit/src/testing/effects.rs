//! The table a test or bench consumer records its effects in: one row per handled event, with a
//! number the caller picks (an event's sequence number, a latency). Its migration goes into a
//! probe's `migrator!`; [`record`] is the one statement a probe handler runs.

use sea_orm::{
    ConnectionTrait, DbErr,
    sea_query::{Alias, Query},
};

/// Creates `effects (event_id, n)`.
pub mod m0001_effects {
    use sea_orm_migration::prelude::*;

    #[derive(Debug, DeriveMigrationName)]
    pub struct Migration;

    #[allow(elided_lifetimes_in_paths)]
    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .get_connection()
                .execute_unprepared("CREATE TABLE effects (event_id VARCHAR(64) NOT NULL, n BIGINT NOT NULL)")
                .await
                .map(|_| ())
        }
    }
}

/// Records that `event_id` was handled, with `n`, in `txn` (the handler's transaction).
pub async fn record(txn: &impl ConnectionTrait, event_id: &str, n: i64) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("effects"))
        .columns([Alias::new("event_id"), Alias::new("n")])
        .values([event_id.into(), n.into()])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    txn.execute(&insert).await.map(|_| ())
}
