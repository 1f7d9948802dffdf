//! shipping's durable timer. A shipment's next move (dispatch, then delivery) is due at a time
//! kept in its row, written in the transaction that made the move before; this worker polls
//! for those past due and makes them. Because the due-time is a row, not a timer in memory, it
//! survives restarts, and any replica may act on it: under the row lock it is read again, so
//! each move is made (and its event published) once.

use std::time::Duration;

use chrono::Utc;
use mercato_kit::{Shutdown, db, events::Outbox, worker};
use sea_orm::DatabaseConnection;

use crate::{
    config::Delays,
    domain::shipment::{ShipmentStatus, after},
    error::Result,
    events,
    metrics::ShippingMetrics,
    storage::shipments::{self as store},
};

/// Shipments moved per poll; more wait for the next, which comes at once.
const BATCH: usize = 100;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Timer {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub delays: Delays,
    pub interval: Duration,
    pub metrics: ShippingMetrics,
}

impl Timer {
    pub async fn run(self, stop: Shutdown) -> anyhow::Result<()> {
        worker::poll_due("shipping-timer", self.interval, BATCH, stop, || self.tick()).await
    }

    /// Makes every move due now; how many were made.
    pub async fn tick(&self) -> Result<usize> {
        let now = Utc::now();
        let due = store::due(&self.db, now, BATCH as u64).await?;
        let mut moved = 0;
        for id in due {
            let txn = db::begin_write(&self.db).await?;
            let Some(record) = store::lock(&txn, &id).await? else { continue };
            if record.row.due_at.is_none_or(|at| at > now) {
                // Moved by another replica since the poll.
                continue;
            }
            let from = record.status;
            let Some(to) = from.next_when_due() else {
                // Nothing left to wait for; a due-time left behind is cleared.
                store::moved(&txn, record, from, now, None).await?;
                txn.commit().await?;
                continue;
            };
            let next_due = (to == ShipmentStatus::Dispatched).then(|| after(now, self.delays.delivery));
            let saved = store::moved(&txn, record, to, now, next_due).await?;
            match to {
                ShipmentStatus::Dispatched => self.outbox.publish(&txn, &events::dispatched(&saved.row)).await?,
                _ => self.outbox.publish(&txn, &events::delivered(&saved.row)).await?,
            };
            self.outbox.commit(txn).await?;
            if to == ShipmentStatus::Dispatched {
                self.metrics.dispatched();
            }
            tracing::info!(
                shipment_id = id,
                order_id = saved.row.order_id,
                from = from.as_str(),
                to = to.as_str(),
                "shipment moved on"
            );
            moved += 1;
        }
        Ok(moved)
    }
}
