//! What orders publishes, through the outbox, in the transaction of the change: OrderPlaced,
//! OrderConfirmed and OrderCancelled for shipping and notifications, and OrderStatusChanged,
//! which every orders replica follows to serve WatchOrder.

use mercato::orders::v1 as pb;
use mercato_kit::{events::Outbox, time::timestamp};
use sea_orm::DatabaseTransaction;

use crate::{error::Result, grpc::convert, storage::orders::OrderRecord};

/// The stream orders publishes into.
pub const STREAM: &str = "ORDERS";

fn now() -> Option<prost_types::Timestamp> {
    Some(timestamp(chrono::Utc::now()))
}

pub async fn placed(outbox: &Outbox, txn: &DatabaseTransaction, order: &pb::Order) -> Result<()> {
    let event = pb::OrderPlaced {
        order_id: order.id.clone(),
        user_id: order.user_id.clone(),
        lines: order.lines.clone(),
        subtotal: order.subtotal.clone(),
        total: order.total.clone(),
        shipping_address: order.shipping_address.clone(),
        occurred_at: now(),
    };
    outbox.publish(txn, &event).await?;
    Ok(())
}

pub async fn confirmed(outbox: &Outbox, txn: &DatabaseTransaction, order: &pb::Order) -> Result<()> {
    let event = pb::OrderConfirmed {
        order_id: order.id.clone(),
        user_id: order.user_id.clone(),
        lines: order.lines.clone(),
        total: order.total.clone(),
        shipping_address: order.shipping_address.clone(),
        payment_id: order.payment_id.clone(),
        occurred_at: now(),
    };
    outbox.publish(txn, &event).await?;
    Ok(())
}

pub async fn cancelled(outbox: &Outbox, txn: &DatabaseTransaction, record: &OrderRecord) -> Result<()> {
    let row = &record.row;
    let event = pb::OrderCancelled {
        order_id: row.id.clone(),
        user_id: row.user_id.clone(),
        reason: convert::reason(record.step.reason()) as i32,
        message: row.cancellation_message.clone(),
        total: record.total().map(Into::into),
        payment_refunded: row.payment_refunded,
        occurred_at: now(),
    };
    outbox.publish(txn, &event).await?;
    Ok(())
}

pub async fn status_changed(outbox: &Outbox, txn: &DatabaseTransaction, order: &pb::Order, version: i64) -> Result<()> {
    let event = pb::OrderStatusChanged { order: Some(order.clone()), version, occurred_at: now() };
    outbox.publish(txn, &event).await?;
    Ok(())
}
