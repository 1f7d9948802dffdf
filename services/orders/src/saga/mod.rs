//! The orchestrator around the saga's state machine ([`crate::domain::saga`]).
//!
//! Everything that moves an order goes through [`advance`], inside the transaction of its
//! cause — a reply's consumer transaction, the timer's, PlaceOrder's or CancelOrder's: the
//! new step, the commands it sends (into the outbox), the next deadline, the step log and
//! the order's events commit together or not at all. A redelivered reply is skipped by the
//! kit's consumer; a reply for a step the saga has left is logged and ignored.

mod commands;
pub mod replies;
pub mod timer;

use std::time::Duration;

use chrono::{DateTime, Utc};
use mercato::orders::v1 as pb;
use mercato_kit::{events::Outbox, money::Money};
use sea_orm::DatabaseTransaction;

use crate::{
    domain::{
        order::Status,
        saga::{Command, Input, Outcome, Reason, Step},
    },
    error::{Error, Result},
    events,
    grpc::convert,
    storage::{
        entity::order_line,
        orders::{self as store, LogEntry, Move, OrderRecord},
    },
};

/// What the saga needs to know besides the order: how long a step may wait.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub step_timeout: Duration,
}

/// What happened, beyond its kind.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// Why, in words: a decline's message, the shortages, the step that timed out, the
    /// owner's note. Becomes the cancellation message when this turns the saga to cancel.
    pub message: String,
    /// A refund that returned money actually taken.
    pub refunded_money: bool,
}

/// Starts the saga of an order just inserted in `txn` (at its first step): the first
/// command, the log, OrderPlaced, and the first status for watchers.
pub async fn start(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    record: &OrderRecord,
    lines: &[order_line::Model],
    order: &pb::Order,
) -> Result<()> {
    let (step, first) = Step::start();
    outbox.publish(txn, &commands::reserve(record, lines)).await?;
    let entries = vec![
        LogEntry {
            step: step.as_str(), kind: "request", name: "PlaceOrder", outcome: format!("→ {}", step.as_str())
        },
        LogEntry { step: step.as_str(), kind: "command", name: first.name(), outcome: "sent".into() },
    ];
    store::log(txn, &record.row.id, entries).await?;
    events::placed(outbox, txn, order).await?;
    events::status_changed(outbox, txn, order, record.row.version).await
}

/// What [`advance`] did.
#[derive(Debug)]
pub enum Advanced {
    /// The order as saved, and what the move reached that the business counters count,
    /// which the caller counts once its transaction has committed.
    Moved(OrderRecord, Option<Milestone>),
    Ignored(OrderRecord),
    Refused(&'static str),
}

/// An order becoming CONFIRMED or CANCELLED: what [`crate::metrics::OrderMetrics::reached`]
/// counts. Reported only by the move that made the change, so a duplicate reply, which
/// the saga ignores, reports nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    Confirmed { total: Money, placed_at: DateTime<Utc> },
    Cancelled(Reason),
}

/// Applies `input` to the order (locked by the caller) in `txn`. See the module docs.
pub async fn advance(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    timing: Timing,
    record: OrderRecord,
    input: Input,
    detail: Detail,
) -> Result<Advanced> {
    let before = record.step;
    let heard = |outcome: String| LogEntry { step: before.as_str(), kind: input.kind(), name: input.name(), outcome };
    let (step, send) = match before.on(input) {
        Outcome::Ignored => {
            store::log(txn, &record.row.id, vec![heard(format!("ignored: the saga is at {}", before.as_str()))])
                .await?;
            // A deadline of a step that cannot time out must not fire again and again.
            if input == Input::DeadlinePassed && record.row.deadline_at.is_some() {
                let change = Move {
                    step: before,
                    message: None,
                    deadline_at: None,
                    forget_token: false,
                    payment_refunded: false,
                };
                return Ok(Advanced::Ignored(store::save(txn, &record, change).await?));
            }
            return Ok(Advanced::Ignored(record));
        }
        Outcome::Refused(why) => {
            store::log(txn, &record.row.id, vec![heard(format!("refused: {why}"))]).await?;
            return Ok(Advanced::Refused(why));
        }
        Outcome::Moved { step, send } => (step, send),
    };
    let turned_to_cancel = before.reason().is_none() && step.reason().is_some();
    let message = turned_to_cancel.then(|| cancellation_message(step.reason(), &detail.message));
    let change = Move {
        step,
        message,
        deadline_at: (!step.is_final()).then(|| deadline(timing)),
        forget_token: send.contains(&Command::ChargePayment),
        payment_refunded: input == Input::PaymentRefunded && detail.refunded_money,
    };
    let saved = store::save(txn, &record, change).await?;
    let mut entries = vec![heard(moved_outcome(before, step, &detail.message))];
    for command in &send {
        commands::send(txn, outbox, &record, &saved, *command).await?;
        entries.push(LogEntry { step: step.as_str(), kind: "command", name: command.name(), outcome: "sent".into() });
    }
    store::log(txn, &saved.row.id, entries).await?;
    let reached = announce(txn, outbox, before, &saved).await?;
    Ok(Advanced::Moved(saved, reached))
}

/// The order's events for a move from `before`; the milestone it reached, if any.
async fn announce(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    before: Step,
    saved: &OrderRecord,
) -> Result<Option<Milestone>> {
    let status = saved.status();
    if Status::of(before) == status {
        return Ok(None);
    }
    let lines = store::lines(txn, &saved.row.id).await?;
    let order = convert::order(saved, &lines);
    events::status_changed(outbox, txn, &order, saved.row.version).await?;
    match saved.step {
        Step::Confirmed => {
            events::confirmed(outbox, txn, &order).await?;
            // The total was valid when it was charged (the charge is refused without one).
            Ok(saved.total().map(|total| Milestone::Confirmed { total, placed_at: saved.row.created_at }))
        }
        Step::Cancelled(reason) => {
            events::cancelled(outbox, txn, saved).await?;
            Ok(Some(Milestone::Cancelled(reason)))
        }
        _ => Ok(None),
    }
}

/// When a step entered now gives up.
pub fn deadline(timing: Timing) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(timing.step_timeout).unwrap_or(chrono::Duration::seconds(30))
}

fn cancellation_message(reason: Option<Reason>, detail: &str) -> String {
    if !detail.is_empty() {
        return detail.to_string();
    }
    match reason {
        Some(Reason::OutOfStock) => "some products are out of stock",
        Some(Reason::PaymentDeclined) => "the payment was declined",
        Some(Reason::Timeout) => "a checkout step did not complete in time",
        Some(Reason::UserCancelled) | None => "cancelled by the customer",
    }
    .to_string()
}

fn moved_outcome(before: Step, step: Step, detail: &str) -> String {
    let moved = if before == step { format!("stays at {}", step.as_str()) } else { format!("→ {}", step.as_str()) };
    if detail.is_empty() { moved } else { format!("{moved} ({detail})") }
}

/// The error a consumer or timer reports: database trouble is worth another try, a broken
/// order is not.
pub fn handler_error(error: Error) -> mercato_kit::events::HandlerError {
    use mercato_kit::events::HandlerError;
    match error {
        Error::Database(e) => HandlerError::Transient(e.into()),
        other => HandlerError::Permanent(other.into()),
    }
}
