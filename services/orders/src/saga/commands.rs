//! The saga's commands, as catalog and payments define them. The reservation is keyed by the
//! order id and the payment by the payment id chosen when the order was placed, so a command
//! sent twice is the same command twice, and catalog and payments take it once.

use mercato::{catalog::v1 as catalog, payments::v1 as payments};
use mercato_kit::events::Outbox;
use sea_orm::DatabaseTransaction;

use crate::{
    domain::saga::Command,
    error::{Error, Result},
    storage::{
        entity::order_line,
        orders::{self as store, OrderRecord},
    },
};

/// The reservation of an order's lines (the saga's first command).
pub(super) fn reserve(order: &OrderRecord, lines: &[order_line::Model]) -> catalog::ReserveStockCommand {
    catalog::ReserveStockCommand {
        reservation_id: order.row.id.clone(),
        order_id: order.row.id.clone(),
        lines: lines
            .iter()
            .map(|l| catalog::StockLine { product_id: l.product_id.clone(), quantity: l.quantity })
            .collect(),
    }
}

/// Puts `command` for the order into the outbox. `before` is the order as it was read: the
/// charge takes the payment token from it, since the saved order has forgotten it.
pub(super) async fn send(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    before: &OrderRecord,
    saved: &OrderRecord,
    command: Command,
) -> Result<()> {
    let row = &saved.row;
    let (order_id, reservation_id) = (row.id.clone(), row.id.clone());
    match command {
        Command::ReserveStock => {
            outbox.publish(txn, &reserve(saved, &store::lines(txn, &row.id).await?)).await?;
        }
        Command::ReleaseStock => {
            outbox.publish(txn, &catalog::ReleaseStockCommand { reservation_id, order_id }).await?;
        }
        Command::CommitStock => {
            outbox.publish(txn, &catalog::CommitStockCommand { reservation_id, order_id }).await?;
        }
        Command::ChargePayment => {
            let token = &before.row.payment_token;
            if token.is_empty() {
                return Err(Error::Broken { id: row.id.clone(), why: "no payment token left to charge".into() });
            }
            let amount = saved
                .total()
                .ok_or_else(|| Error::Broken { id: row.id.clone(), why: "its total is not an amount".into() })?;
            let command = payments::ChargePaymentCommand {
                payment_id: row.payment_id.clone(),
                order_id,
                user_id: row.user_id.clone(),
                amount: Some(amount.into()),
                payment_method_token: token.clone(),
            };
            outbox.publish(txn, &command).await?;
        }
        Command::RefundPayment => {
            let command = payments::RefundPaymentCommand {
                payment_id: row.payment_id.clone(),
                order_id,
                user_id: row.user_id.clone(),
                reason: format!("order cancelled: {}", row.cancellation_message),
            };
            outbox.publish(txn, &command).await?;
        }
    }
    Ok(())
}
