//! Shipments: one per order (the unique order id is what makes the consumer of
//! OrderConfirmed idempotent whatever the redeliveries), each with the time its next move is
//! due, the durable timer's work list.

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
                    .table(Shipments::Table)
                    .col(string(Shipments::Id).primary_key())
                    .col(string(Shipments::OrderId).unique_key())
                    .col(string(Shipments::UserId))
                    .col(string(Shipments::Status))
                    .col(string(Shipments::Carrier))
                    .col(string(Shipments::TrackingNumber).unique_key())
                    // The address and the items as JSON: a snapshot of the confirmed order,
                    // never queried by their parts.
                    .col(text(Shipments::Address))
                    .col(text(Shipments::Items))
                    .col(timestamp_with_time_zone(Shipments::CreatedAt))
                    .col(timestamp_with_time_zone(Shipments::UpdatedAt))
                    // When the next move (dispatch, delivery) falls due; NULL once there is none.
                    .col(timestamp_with_time_zone_null(Shipments::DueAt))
                    .col(timestamp_with_time_zone_null(Shipments::DispatchedAt))
                    .col(timestamp_with_time_zone_null(Shipments::DeliveredAt))
                    .col(timestamp_with_time_zone_null(Shipments::CancelledAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_shipments_due_at").table(Shipments::Table).col(Shipments::DueAt).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Shipments::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Shipments {
    Table,
    Id,
    OrderId,
    UserId,
    Status,
    Carrier,
    TrackingNumber,
    Address,
    Items,
    CreatedAt,
    UpdatedAt,
    DueAt,
    DispatchedAt,
    DeliveredAt,
    CancelledAt,
}
