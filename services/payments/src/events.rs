//! What payments publishes, through the outbox, in the transaction of the change: the saga's
//! replies. A command handled again answers again with the payment as it is (the saga ignores
//! a reply for a step it has left).

use mercato::payments::v1 as pb;
use mercato_kit::{events::Outbox, time::timestamp};
use sea_orm::DatabaseTransaction;

use crate::{domain::payment::PaymentStatus, error::Result, storage::payments::PaymentRecord};

/// The stream payments publishes into.
pub const STREAM: &str = "PAYMENTS";

/// The reply to a charge: completed, failed, or (cancelled before it came) refunded.
pub async fn charge_outcome(outbox: &Outbox, txn: &DatabaseTransaction, record: &PaymentRecord) -> Result<()> {
    let occurred_at = Some(timestamp(chrono::Utc::now()));
    let row = &record.row;
    let (payment_id, order_id, user_id) = (row.id.clone(), row.order_id.clone(), row.user_id.clone());
    let amount = record.amount().map(Into::into);
    match record.status {
        PaymentStatus::Completed => {
            let event = pb::PaymentCompleted {
                payment_id,
                order_id,
                user_id,
                amount,
                provider_reference: row.provider_reference.clone(),
                occurred_at,
            };
            outbox.publish(txn, &event).await?;
        }
        PaymentStatus::Failed => {
            let event = pb::PaymentFailed {
                payment_id,
                order_id,
                user_id,
                amount,
                failure_code: row.failure_code.clone(),
                failure_message: row.failure_message.clone(),
                occurred_at,
            };
            outbox.publish(txn, &event).await?;
        }
        PaymentStatus::Refunded => refunded(outbox, txn, record).await?,
    }
    Ok(())
}

/// The reply to a refund: the amount returned, or none when nothing had been taken.
pub async fn refunded(outbox: &Outbox, txn: &DatabaseTransaction, record: &PaymentRecord) -> Result<()> {
    let row = &record.row;
    let event = pb::PaymentRefunded {
        payment_id: row.id.clone(),
        order_id: row.order_id.clone(),
        user_id: row.user_id.clone(),
        amount: if record.was_charged() && record.status == PaymentStatus::Refunded {
            record.amount().map(Into::into)
        } else {
            None
        },
        occurred_at: Some(timestamp(chrono::Utc::now())),
    };
    outbox.publish(txn, &event).await?;
    Ok(())
}
