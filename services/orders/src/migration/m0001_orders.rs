//! Carts, orders with their lines, and the saga's state and log.
//!
//! The saga's state lives on the order row (`step`, `reason`, `version`), and so does its
//! durable timer: `deadline_at`, the time the current step gives up, polled through its index.
//! `(user_id, idempotency_key)` is unique, which is what makes concurrent duplicates of a
//! PlaceOrder one order.

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
                    .table(CartItems::Table)
                    .col(string(CartItems::UserId))
                    .col(string(CartItems::ProductId))
                    .col(integer(CartItems::Quantity))
                    .col(string(CartItems::ProductName))
                    .col(string_len(CartItems::PriceCurrency, 3))
                    .col(big_integer(CartItems::PriceUnits))
                    .col(integer(CartItems::PriceNanos))
                    .col(timestamp_with_time_zone(CartItems::AddedAt))
                    .col(timestamp_with_time_zone(CartItems::UpdatedAt))
                    .primary_key(Index::create().col(CartItems::UserId).col(CartItems::ProductId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(string(Orders::Id).primary_key())
                    .col(string(Orders::UserId))
                    .col(string(Orders::IdempotencyKey))
                    .col(string(Orders::Status))
                    .col(string(Orders::Step))
                    .col(string(Orders::Reason))
                    .col(text(Orders::CancellationMessage))
                    .col(string_len(Orders::Currency, 3))
                    .col(big_integer(Orders::SubtotalUnits))
                    .col(integer(Orders::SubtotalNanos))
                    .col(big_integer(Orders::TotalUnits))
                    .col(integer(Orders::TotalNanos))
                    .col(text(Orders::ShippingAddress))
                    .col(string(Orders::PaymentId))
                    // Until the charge command carries it to payments; then emptied.
                    .col(string(Orders::PaymentToken))
                    .col(boolean(Orders::PaymentRefunded))
                    .col(big_integer(Orders::Version))
                    .col(timestamp_with_time_zone_null(Orders::DeadlineAt))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        let index = |name: &str, cols: &[Orders], unique: bool| {
            let mut index = Index::create();
            index.name(name).table(Orders::Table);
            for col in cols {
                index.col(*col);
            }
            if unique {
                index.unique();
            }
            index.to_owned()
        };
        manager.create_index(index("idx_orders_idempotency", &[Orders::UserId, Orders::IdempotencyKey], true)).await?;
        // An owner's orders, newest first (ListOrders), and everyone's for admins.
        manager
            .create_index(index("idx_orders_user_created", &[Orders::UserId, Orders::CreatedAt, Orders::Id], false))
            .await?;
        manager.create_index(index("idx_orders_created", &[Orders::CreatedAt, Orders::Id], false)).await?;
        // The durable timer's poll: steps past their deadline.
        manager.create_index(index("idx_orders_deadline", &[Orders::DeadlineAt], false)).await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderLines::Table)
                    .col(string(OrderLines::OrderId))
                    .col(integer(OrderLines::Position))
                    .col(string(OrderLines::ProductId))
                    .col(string(OrderLines::ProductName))
                    .col(big_integer(OrderLines::UnitUnits))
                    .col(integer(OrderLines::UnitNanos))
                    .col(integer(OrderLines::Quantity))
                    .col(big_integer(OrderLines::TotalUnits))
                    .col(integer(OrderLines::TotalNanos))
                    .primary_key(Index::create().col(OrderLines::OrderId).col(OrderLines::Position))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderSteps::Table)
                    .col(big_integer(OrderSteps::Id).auto_increment().primary_key())
                    .col(string(OrderSteps::OrderId))
                    .col(timestamp_with_time_zone(OrderSteps::At))
                    .col(string(OrderSteps::Step))
                    .col(string(OrderSteps::Kind))
                    .col(string(OrderSteps::Name))
                    .col(text(OrderSteps::Outcome))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_order_steps_order")
                    .table(OrderSteps::Table)
                    .col(OrderSteps::OrderId)
                    .col(OrderSteps::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OrderSteps::Table.into_iden(),
            OrderLines::Table.into_iden(),
            Orders::Table.into_iden(),
            CartItems::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum CartItems {
    Table,
    UserId,
    ProductId,
    Quantity,
    ProductName,
    PriceCurrency,
    PriceUnits,
    PriceNanos,
    AddedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Id,
    UserId,
    IdempotencyKey,
    Status,
    Step,
    Reason,
    CancellationMessage,
    Currency,
    SubtotalUnits,
    SubtotalNanos,
    TotalUnits,
    TotalNanos,
    ShippingAddress,
    PaymentId,
    PaymentToken,
    PaymentRefunded,
    Version,
    DeadlineAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderLines {
    Table,
    OrderId,
    Position,
    ProductId,
    ProductName,
    UnitUnits,
    UnitNanos,
    Quantity,
    TotalUnits,
    TotalNanos,
}

#[derive(DeriveIden)]
enum OrderSteps {
    Table,
    Id,
    OrderId,
    At,
    Step,
    Kind,
    Name,
    Outcome,
}
