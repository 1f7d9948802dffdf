//! What catalog publishes, through the outbox, in the transaction of the change: a
//! `StockLevelChanged` per product whose stock moved and a `ProductChanged` per product
//! created or updated. Other replicas follow them (`startup.rs`) to drop cached products and
//! tell their WatchStock streams.

use mercato::catalog::v1::{self as pb, ProductChange, StockChangeReason};
use mercato_kit::{events::Outbox, time::timestamp};
use sea_orm::DatabaseTransaction;

use crate::{
    error::Result,
    grpc::convert,
    storage::{products, products::ProductRecord},
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
