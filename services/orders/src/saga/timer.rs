//! The saga's durable timer. Each step's deadline is a column of its order, written in the
//! transaction that entered the step; this worker polls for those past due and feeds them to
//! the saga as `DeadlinePassed`. Because the deadline is a row, not a timer in memory, it
//! survives restarts, and any replica may fire it: under the row lock the deadline is read
//! again, so it fires once.

use std::time::Duration;

use chrono::Utc;
use mercato_kit::{Shutdown, db, events::Outbox, worker};
use sea_orm::DatabaseConnection;

use super::{Advanced, Detail, Timing, advance};
use crate::{
    domain::saga::Step,
    error::Result,
    metrics::OrderMetrics,
    storage::orders::{self as store},
};

/// Deadlines handled per poll; more wait for the next, which comes at once.
const BATCH: usize = 100;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Timer {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub timing: Timing,
    pub interval: Duration,
    pub metrics: OrderMetrics,
}

impl Timer {
    pub async fn run(self, stop: Shutdown) -> anyhow::Result<()> {
        worker::poll_due("saga-timer", self.interval, BATCH, stop, || self.tick()).await
    }

    /// Fires every deadline past due now; how many fired.
    pub async fn tick(&self) -> Result<usize> {
        let now = Utc::now();
        let due = store::due(&self.db, now, BATCH as u64).await?;
        let mut fired = 0;
        for id in due {
            let txn = db::begin_write(&self.db).await?;
            let Some(order) = store::lock(&txn, &id).await? else { continue };
            if order.row.deadline_at.is_none_or(|at| at > now) {
                // Moved on, or fired by another replica, since the poll.
                continue;
            }
            let step = order.step;
            let detail = Detail { message: timed_out(step, self.timing.step_timeout), refunded_money: false };
            let outcome =
                advance(&txn, &self.outbox, self.timing, order, crate::domain::saga::Input::DeadlinePassed, detail)
                    .await?;
            self.outbox.commit(txn).await?;
            if let Advanced::Moved(saved, reached) = outcome {
                // No deadline ends a saga today; counted all the same, so that a rule that
                // one day does is not left uncounted.
                if let Some(milestone) = reached {
                    self.metrics.reached(&milestone);
                }
                tracing::info!(
                    order_id = id,
                    from = step.as_str(),
                    to = saved.step.as_str(),
                    "saga step deadline passed"
                );
            }
            fired += 1;
        }
        Ok(fired)
    }
}

fn timed_out(step: Step, timeout: Duration) -> String {
    let what = match step {
        Step::ReservingStock => "the stock reservation",
        Step::ChargingPayment => "the payment",
        Step::CommittingStock => "the stock commit",
        Step::ReleasingStock(_) => "the stock release",
        Step::Confirmed | Step::Cancelled(_) => "the step",
    };
    format!("{what} did not complete within {timeout:?}")
}
