//! What catalog publishes, through the outbox, in the transaction of the change: a
//! `StockLevelChanged` per product whose stock moved, a `ProductChanged` per product
//! created or updated, and the checkout saga's replies to its commands. Other replicas follow
//! the first two (`startup.rs`) to drop cached products and tell their WatchStock streams.

use mercato::catalog::v1::{self as pb, ProductChange, StockChangeReason};
use mercato_kit::{events::Outbox, time::timestamp};
use sea_orm::DatabaseTransaction;

use crate::{
    domain::stock::ReservationStatus,
    error::Result,
    grpc::convert,
    storage::{products, products::ProductRecord, stock::ReservationRecord},
};

/// The stream catalog publishes into.
pub const STREAM: &str = "CATALOG";

/// Publishes the current level of each of `product_ids`, read inside `txn`.
pub async fn stock_changed(
    outbox: &Outbox,
    txn: &DatabaseTransaction,
    product_ids: &[&str],
    reason: StockChangeReason,
    reservation_id: &str,
) -> Result<()> {
    let now = timestamp(chrono::Utc::now());
    for (product_id, on_hand, reserved) in products::stock_levels(txn, product_ids).await? {
        let event = pb::StockLevelChanged {
            product_id,
            stock: Some(convert::stock_level(on_hand, reserved)),
            reason: reason as i32,
            reservation_id: reservation_id.to_string(),
            occurred_at: Some(now),
        };
        outbox.publish(txn, &event).await?;
    }
    Ok(())
}

/// Publishes the new level of every product of a reservation, if this call moved it (a
/// replay or a rejection moved nothing, and its events went out with the call that did).
pub async fn reservation_moved(
    outbox: &Outbox,
    txn: &DatabaseTransaction,
    record: &ReservationRecord,
    reason: StockChangeReason,
) -> Result<()> {
    if record.moved {
        let ids: Vec<&str> = record.lines.iter().map(|(id, _)| id).collect();
        stock_changed(outbox, txn, &ids, reason, &record.reservation.id).await?;
    }
    Ok(())
}

/// The saga's reply for a reservation: the event of the state it is in now. A command
/// handled again (a redelivery, a duplicate) answers again with the same state, which the
/// saga ignores once it has moved on. `order_id` is the command's (a release that came first
/// left a tombstone that knows no order).
pub async fn reply(
    outbox: &Outbox,
    txn: &DatabaseTransaction,
    record: &ReservationRecord,
    order_id: &str,
) -> Result<()> {
    let occurred_at = Some(timestamp(chrono::Utc::now()));
    let (reservation_id, order_id) = (record.reservation.id.clone(), order_id.to_string());
    let reservation = convert::reservation(record.clone());
    match record.status {
        ReservationStatus::Reserved => {
            let lines = reservation.lines;
            outbox.publish(txn, &pb::StockReserved { reservation_id, order_id, lines, occurred_at }).await?;
        }
        ReservationStatus::Rejected => {
            let shortages = reservation.shortages;
            let event = pb::StockReservationFailed { reservation_id, order_id, shortages, occurred_at };
            outbox.publish(txn, &event).await?;
        }
        ReservationStatus::Released => {
            outbox.publish(txn, &pb::StockReleased { reservation_id, order_id, occurred_at }).await?;
        }
        ReservationStatus::Committed => {
            let lines = reservation.lines;
            outbox.publish(txn, &pb::StockCommitted { reservation_id, order_id, lines, occurred_at }).await?;
        }
    }
    Ok(())
}

/// Publishes `record` as it now is.
pub async fn product_changed(
    outbox: &Outbox,
    txn: &DatabaseTransaction,
    record: &ProductRecord,
    change: ProductChange,
) -> Result<()> {
    let event = pb::ProductChanged {
        product: Some(convert::product(record.clone())),
        change: change as i32,
        occurred_at: Some(timestamp(chrono::Utc::now())),
    };
    outbox.publish(txn, &event).await?;
    Ok(())
}
