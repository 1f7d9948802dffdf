//! The kit's own tables, in every service's database (`mercato_kit::migrator!` adds this
//! migration before the service's own): the outbox, the relay's lease, and the events each
//! consumer has processed.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `outbox`, `outbox_lease` and `processed_events`.
#[derive(Debug)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "kit_m0001_events"
    }
}

// async_trait rewrites these signatures; spelling out `SchemaManager<'_>` would break them.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    // Assigned at insert: per aggregate that is commit order, since the write
                    // that locks the aggregate comes before its event in the transaction.
                    .col(big_integer(Outbox::Id).auto_increment().primary_key())
                    .col(string_uniq(Outbox::EventId))
                    .col(string(Outbox::Aggregate))
                    .col(string(Outbox::Subject))
                    .col(string(Outbox::EventType))
                    .col(blob(Outbox::Payload))
                    .col(text(Outbox::Headers))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_unsent")
                    .table(Outbox::Table)
                    .col(Outbox::SentAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await?;
        manager.create_index(aggregate_index()).await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxLease::Table)
                    .col(string(OutboxLease::Name).primary_key())
                    .col(string(OutboxLease::Holder))
                    .col(timestamp_with_time_zone(OutboxLease::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProcessedEvents::Table)
                    .col(string(ProcessedEvents::EventId))
                    .col(string(ProcessedEvents::Consumer))
                    .col(timestamp_with_time_zone(ProcessedEvents::ProcessedAt))
                    .primary_key(Index::create().col(ProcessedEvents::EventId).col(ProcessedEvents::Consumer))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ProcessedEvents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(OutboxLease::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await
    }
}

/// Indexes that hold only unsent rows, for the two questions the relay asks every round (the
/// oldest unsent rows; an aggregate's oldest unsent row). Sent rows stay for
/// `OUTBOX_RETENTION` (days): indexes over all rows made those questions slower the longer the
/// service ran, and on PostgreSQL, with statistics that lag behind, the planner walked the
/// primary key through every sent row.
#[derive(Debug)]
pub struct UnsentIndexes;

impl MigrationName for UnsentIndexes {
    fn name(&self) -> &str {
        "kit_m0002_outbox_unsent_indexes"
    }
}

#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for UnsentIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Partial indexes: the same statements on PostgreSQL and SQLite.
        db.execute_unprepared("CREATE INDEX idx_outbox_unsent_id ON outbox (id) WHERE sent_at IS NULL").await?;
        db.execute_unprepared("CREATE INDEX idx_outbox_unsent_heads ON outbox (aggregate, id) WHERE sent_at IS NULL")
            .await?;
        manager.drop_index(Index::drop().name("idx_outbox_aggregate").table(Outbox::Table).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(aggregate_index()).await?;
        for index in ["idx_outbox_unsent_heads", "idx_outbox_unsent_id"] {
            manager.drop_index(Index::drop().name(index).table(Outbox::Table).to_owned()).await?;
        }
        Ok(())
    }
}

/// m0001's index of every row by aggregate, which m0002 replaces with a partial one (and its
/// `down` puts back).
fn aggregate_index() -> IndexCreateStatement {
    Index::create().name("idx_outbox_aggregate").table(Outbox::Table).col(Outbox::Aggregate).col(Outbox::Id).to_owned()
}

/// The kit's migrations, in order; `mercato_kit::migrator!` runs them before a service's own.
pub fn kit() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(Migration), Box::new(UnsentIndexes)]
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    Aggregate,
    Subject,
    EventType,
    Payload,
    Headers,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum OutboxLease {
    Table,
    Name,
    Holder,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ProcessedEvents {
    Table,
    EventId,
    Consumer,
    ProcessedAt,
}

/// sea-orm models of the kit's tables.
pub mod entity {
    /// A row of the outbox.
    pub mod outbox {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "outbox")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            #[sea_orm(unique)]
            pub event_id: String,
            pub aggregate: String,
            pub subject: String,
            pub event_type: String,
            pub payload: Vec<u8>,
            /// The event's own headers besides id and type, as a JSON object.
            pub headers: String,
            pub created_at: DateTimeUtc,
            pub sent_at: Option<DateTimeUtc>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// Which relay may publish (SQLite: one at a time).
    pub mod outbox_lease {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "outbox_lease")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub name: String,
            pub holder: String,
            pub expires_at: DateTimeUtc,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// An event a consumer has handled, inserted in the same transaction as its effects.
    pub mod processed_event {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "processed_events")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub event_id: String,
            #[sea_orm(primary_key, auto_increment = false)]
            pub consumer: String,
            pub processed_at: DateTimeUtc,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}
