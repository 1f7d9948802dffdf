//! Contacts (notifications' own copy of identity's users) and the notifications sent.
//! `(event_id, user_id)` is unique: one message per event and recipient, whatever the
//! redeliveries.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

// async_trait rewrites these signatures; spelling out `SchemaManager<'_>` would break them.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(string(Contacts::UserId).primary_key())
                    .col(string(Contacts::Email))
                    .col(string(Contacts::DisplayName))
                    // When identity says the details were true: an older event never
                    // overwrites a newer one.
                    .col(timestamp_with_time_zone(Contacts::AsOf))
                    .col(timestamp_with_time_zone(Contacts::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(string(Notifications::Id).primary_key())
                    .col(string(Notifications::EventId))
                    .col(string(Notifications::UserId))
                    .col(string(Notifications::Kind))
                    .col(string(Notifications::Channel))
                    .col(string(Notifications::Recipient))
                    .col(text(Notifications::Subject))
                    .col(text(Notifications::Body))
                    .col(string(Notifications::OrderId))
                    .col(string(Notifications::Status))
                    .col(text(Notifications::FailureMessage))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uniq_notifications_event_user")
                    .table(Notifications::Table)
                    .col(Notifications::EventId)
                    .col(Notifications::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A user's notifications, newest first (ListNotifications).
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_user_created")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::CreatedAt)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Notifications::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Contacts::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    UserId,
    Email,
    DisplayName,
    AsOf,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    EventId,
    UserId,
    Kind,
    Channel,
    Recipient,
    Subject,
    Body,
    OrderId,
    Status,
    FailureMessage,
    CreatedAt,
}
