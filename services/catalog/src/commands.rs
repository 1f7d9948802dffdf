//! The checkout saga's commands to catalog: ReserveStock, ReleaseStock and CommitStock, sent
//! by orders through the CATALOG stream. The kit's consumer runs each once, in the
//! transaction that records it; the stock moves, its levels and the reply event go into that
//! same transaction, so a reply is published if and only if the change committed.
//!
//! The same rules as StockService's: all lines or none, never below zero, idempotent by
//! reservation id (a command handled again replies with the stored outcome).

use mercato::catalog::v1::{self as pb, StockChangeReason};
use mercato_kit::events::{Delivery, Handler, HandlerError};
use sea_orm::DatabaseTransaction;

use crate::{error::Error, events, grpc::convert, storage::stock as store};

/// A command that can never succeed is dead-lettered (the saga's deadline then cancels the
/// order); a database that failed may work on the next delivery.
fn failure(error: Error) -> HandlerError {
    match error {
        Error::Database(e) => HandlerError::Transient(e.into()),
        other => HandlerError::Permanent(other.into()),
    }
}

fn invalid(status: &tonic::Status) -> HandlerError {
    HandlerError::Permanent(anyhow::anyhow!("invalid command: {}", status.message()))
}

/// Consumes ReserveStock.
#[derive(Debug, Clone, Copy)]
pub struct Reserve;

impl Handler<pb::ReserveStockCommand> for Reserve {
    /// A batch of reservations locks the inventory rows of all its lines at once, in product
    /// order: popular products are in many carts, and batches locking them line by line in
    /// arrival order deadlock on PostgreSQL.
    async fn prepare(
        &self,
        commands: &[&pb::ReserveStockCommand],
        txn: &DatabaseTransaction,
    ) -> Result<(), HandlerError> {
        let mut products = Vec::new();
        for command in commands {
            products.extend(command.lines.iter().map(|line| line.product_id.as_str()));
        }
        store::lock_inventory(txn, products).await.map_err(failure)
    }

    async fn handle(&self, command: pb::ReserveStockCommand, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let request = pb::ReserveStockRequest {
            reservation_id: command.reservation_id,
            order_id: command.order_id,
            lines: command.lines,
        };
        let reserve = convert::reserve_stock_request(&request).map_err(|s| invalid(&s))?;
        let record = store::reserve(delivery.txn, reserve.id.as_str(), &reserve.order_id, &reserve.lines)
            .await
            .map_err(failure)?;
        events::reservation_moved(delivery.outbox, delivery.txn, &record, StockChangeReason::Reserved)
            .await
            .map_err(failure)?;
        events::reply(delivery.outbox, delivery.txn, &record, &reserve.order_id).await.map_err(failure)
    }
}

/// Consumes ReleaseStock (a compensation: releasing before the reservation arrived leaves a
/// tombstone, so the late reservation takes nothing).
#[derive(Debug, Clone, Copy)]
pub struct Release;

impl Handler<pb::ReleaseStockCommand> for Release {
    async fn prepare(
        &self,
        commands: &[&pb::ReleaseStockCommand],
        txn: &DatabaseTransaction,
    ) -> Result<(), HandlerError> {
        store::lock_reserved(txn, commands.iter().map(|c| c.reservation_id.as_str())).await.map_err(failure)
    }

    async fn handle(&self, command: pb::ReleaseStockCommand, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let id = convert::reservation_id_request(&command.reservation_id).map_err(|s| invalid(&s))?;
        let record = store::release(delivery.txn, id.as_str()).await.map_err(failure)?;
        events::reservation_moved(delivery.outbox, delivery.txn, &record, StockChangeReason::Released)
            .await
            .map_err(failure)?;
        events::reply(delivery.outbox, delivery.txn, &record, &command.order_id).await.map_err(failure)
    }
}

/// Consumes CommitStock.
#[derive(Debug, Clone, Copy)]
pub struct Commit;

impl Handler<pb::CommitStockCommand> for Commit {
    async fn prepare(
        &self,
        commands: &[&pb::CommitStockCommand],
        txn: &DatabaseTransaction,
    ) -> Result<(), HandlerError> {
        store::lock_reserved(txn, commands.iter().map(|c| c.reservation_id.as_str())).await.map_err(failure)
    }

    async fn handle(&self, command: pb::CommitStockCommand, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let id = convert::reservation_id_request(&command.reservation_id).map_err(|s| invalid(&s))?;
        let record = store::commit(delivery.txn, id.as_str()).await.map_err(failure)?;
        events::reservation_moved(delivery.outbox, delivery.txn, &record, StockChangeReason::Committed)
            .await
            .map_err(failure)?;
        events::reply(delivery.outbox, delivery.txn, &record, &command.order_id).await.map_err(failure)
    }
}
