//! Payments. `order_id` is unique: an order is charged at most once, whatever the saga sends.
//! No card token is stored, only the provider's references.

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
                    .table(Payments::Table)
                    .col(string(Payments::Id).primary_key())
                    .col(string_uniq(Payments::OrderId))
                    .col(string(Payments::UserId))
                    // Empty currency: nothing was ever to be taken (a refund before its charge).
                    .col(string_len(Payments::AmountCurrency, 3))
                    .col(big_integer(Payments::AmountUnits))
                    .col(integer(Payments::AmountNanos))
                    .col(string(Payments::Status))
                    .col(string(Payments::FailureCode))
                    .col(text(Payments::FailureMessage))
                    .col(string(Payments::ProviderReference))
                    .col(string(Payments::RefundReference))
                    .col(text(Payments::RefundReason))
                    .col(timestamp_with_time_zone(Payments::CreatedAt))
                    .col(timestamp_with_time_zone(Payments::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // An owner's payments, newest first (ListPayments).
        manager
            .create_index(
                Index::create()
                    .name("idx_payments_user_created")
                    .table(Payments::Table)
                    .col(Payments::UserId)
                    .col(Payments::CreatedAt)
                    .col(Payments::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_payments_created")
                    .table(Payments::Table)
                    .col(Payments::CreatedAt)
                    .col(Payments::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Payments::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    Id,
    OrderId,
    UserId,
    AmountCurrency,
    AmountUnits,
    AmountNanos,
    Status,
    FailureCode,
    FailureMessage,
    ProviderReference,
    RefundReference,
    RefundReason,
    CreatedAt,
    UpdatedAt,
}
