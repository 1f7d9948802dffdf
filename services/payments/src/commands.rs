//! The checkout saga's commands to payments, from orders through the PAYMENTS stream. The
//! kit's consumer runs each once, in the transaction that records it; the payment row and the
//! reply go into that transaction, so a reply is published if and only if the payment is
//! stored.
//!
//! The provider is called inside the handler, on a row claimed but not yet committed, with an idempotency key
//! derived from the payment id: if the process dies after the provider took the money and
//! before the commit, the redelivered command calls again with the same key and gets the same
//! charge back. At most one charge per order, at most one refund per charge.

use mercato::payments::v1 as pb;
use mercato_kit::events::{Delivery, Handler, HandlerError};

use crate::{
    domain::{
        decline::DeclineCode,
        payment::{self, Charge, PaymentId, PaymentStatus},
        token::{CardToken, masked},
    },
    error::Error,
    events,
    metrics::PaymentMetrics,
    provider::{Calls, ChargeRequest, ProviderError, RefundRequest},
    storage::payments::{self as store, NewPayment},
};

fn failure(error: Error) -> HandlerError {
    match error {
        Error::Database(e) => HandlerError::Transient(e.into()),
        other => HandlerError::Permanent(other.into()),
    }
}

fn invalid(field: &str, why: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(anyhow::anyhow!("invalid command: {field} {why}"))
}

/// The charge a command asks for (no part of the token in the error).
fn charge_of(command: &pb::ChargePaymentCommand) -> Result<Charge, HandlerError> {
    Ok(Charge {
        id: PaymentId::parse(&command.payment_id).map_err(|e| invalid("payment_id", e))?,
        order_id: payment::reference(&command.order_id).map_err(|e| invalid("order_id", e))?,
        user_id: payment::reference(&command.user_id).map_err(|e| invalid("user_id", e))?,
        amount: payment::amount(command.amount.as_ref()).map_err(|e| invalid("amount", e))?,
        token: CardToken::parse(&command.payment_method_token).map_err(|e| invalid("payment_method_token", e))?,
    })
}

/// Consumes ChargePayment.
#[derive(Debug, Clone)]
pub struct ChargeHandler {
    pub provider: Calls,
    pub metrics: PaymentMetrics,
}

impl Handler<pb::ChargePaymentCommand> for ChargeHandler {
    async fn handle(&self, command: pb::ChargePaymentCommand, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let charge = charge_of(&command)?;
        let (txn, outbox) = (delivery.txn, delivery.outbox);
        // Charged (or refunded first) before: answer with what happened then.
        if let Some(existing) = store::get(txn, charge.id.as_str()).await.map_err(failure)? {
            return events::charge_outcome(outbox, txn, &existing).await.map_err(failure);
        }
        if let Some(other) = store::by_order(txn, &charge.order_id).await.map_err(failure)? {
            return Err(failure(Error::OrderHasPayment { order_id: charge.order_id, existing: other.row.id }));
        }
        // Claim the payment id before calling the provider. On PostgreSQL a refund of the
        // same payment arriving meanwhile then waits for this transaction (the primary key
        // is held) instead of recording "refunded before charged" while money is being
        // taken; SQLite's write transaction holds everything anyway. Settled below, in the
        // same transaction, so the claim itself is never seen.
        store::insert(
            txn,
            NewPayment {
                id: charge.id.as_str(),
                order_id: &charge.order_id,
                user_id: &charge.user_id,
                amount: Some(charge.amount),
                status: PaymentStatus::Failed,
                failure_code: DeclineCode::ProcessingError.as_str(),
                failure_message: "the charge did not complete",
                provider_reference: "",
                refund_reason: "",
            },
        )
        .await
        .map_err(failure)?;
        let request = ChargeRequest {
            idempotency_key: format!("charge-{}", charge.id),
            amount: charge.amount,
            token: &charge.token,
            description: format!("order {}", charge.order_id),
        };
        let (status, decline, message, reference) = match self.provider.charge(&request).await {
            Ok(receipt) => (PaymentStatus::Completed, None, String::new(), receipt.reference),
            Err(ProviderError::Declined { code, message }) => {
                tracing::info!(payment_id = %charge.id, order_id = charge.order_id, token = %charge.token, code, "charge declined");
                (PaymentStatus::Failed, Some(DeclineCode::from_provider(&code)), message, String::new())
            }
            Err(ProviderError::Unavailable(why)) => {
                return Err(HandlerError::Transient(anyhow::anyhow!("provider unavailable: {why}")));
            }
        };
        let code = decline.map_or("", DeclineCode::as_str);
        let record =
            store::settle(txn, charge.id.as_str(), status, code, &message, &reference).await.map_err(failure)?;
        if status == PaymentStatus::Completed {
            tracing::info!(payment_id = %charge.id, order_id = charge.order_id, reference = %masked(&reference), amount = %charge.amount, "payment completed");
        }
        events::charge_outcome(outbox, txn, &record).await.map_err(failure)?;
        // Only a charge settled here counts: one answered from an earlier settlement returned
        // above, so the same command redelivered or sent again counts nothing.
        let metrics = self.metrics.clone();
        let currency = charge.amount.currency();
        delivery.on_commit(move || match decline {
            None => metrics.authorized(currency),
            Some(code) => metrics.declined(code),
        });
        Ok(())
    }
}

/// Consumes RefundPayment (a compensation).
#[derive(Debug, Clone)]
pub struct RefundHandler {
    pub provider: Calls,
}

impl Handler<pb::RefundPaymentCommand> for RefundHandler {
    async fn handle(&self, command: pb::RefundPaymentCommand, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let id = PaymentId::parse(&command.payment_id).map_err(|e| invalid("payment_id", e))?;
        let order_id = payment::reference(&command.order_id).map_err(|e| invalid("order_id", e))?;
        let (txn, outbox) = (delivery.txn, delivery.outbox);
        let Some(existing) = store::get(txn, id.as_str()).await.map_err(failure)? else {
            // No record of a charge. Either it never reached us, or we died between the
            // provider taking the money and our commit (its redelivery not back yet): only
            // the provider knows which.
            let taken = self
                .provider
                .find_charge(&format!("charge-{id}"))
                .await
                .map_err(|e| HandlerError::Transient(anyhow::anyhow!("looking up the charge of {id}: {e}")))?;
            if let Some(charge) = taken {
                return self.refund_unrecorded(delivery, &command, &id, &order_id, &charge.reference).await;
            }
            // Cancelled before the charge arrived: remember it, so the late charge takes nothing.
            let record = store::insert(
                txn,
                NewPayment {
                    id: id.as_str(),
                    order_id: &order_id,
                    user_id: &command.user_id,
                    amount: None,
                    status: PaymentStatus::Refunded,
                    failure_code: "",
                    failure_message: "",
                    provider_reference: "",
                    refund_reason: &command.reason,
                },
            )
            .await
            .map_err(failure)?;
            tracing::info!(payment_id = %id, order_id, "refund before charge: nothing taken, the charge will take nothing");
            return events::refunded(outbox, txn, &record).await.map_err(failure);
        };
        if existing.status != PaymentStatus::Completed {
            // FAILED took nothing; REFUNDED was returned already.
            return events::refunded(outbox, txn, &existing).await.map_err(failure);
        }
        let amount = existing.amount().ok_or_else(|| {
            HandlerError::Permanent(anyhow::anyhow!("payment {id} is COMPLETED with no amount stored"))
        })?;
        let request = RefundRequest {
            idempotency_key: format!("refund-{id}"),
            charge_reference: &existing.row.provider_reference,
            amount: Some(amount),
        };
        let receipt = match self.provider.refund(&request).await {
            Ok(receipt) => receipt,
            Err(e) => return Err(HandlerError::Transient(anyhow::anyhow!("refund of {id}: {e}"))),
        };
        store::mark_refunded(txn, id.as_str(), &receipt.reference, &command.reason).await.map_err(failure)?;
        let record = store::get(txn, id.as_str())
            .await
            .map_err(failure)?
            .ok_or_else(|| failure(Error::PaymentNotFound(id.to_string())))?;
        tracing::info!(payment_id = %id, order_id, %amount, reason = command.reason, "payment refunded");
        events::refunded(outbox, txn, &record).await.map_err(failure)
    }
}

impl RefundHandler {
    /// Refunds a charge the provider took but payments never recorded, and records both, so
    /// the redelivered charge command finds the payment REFUNDED and takes nothing.
    async fn refund_unrecorded(
        &self,
        delivery: &Delivery<'_>,
        command: &pb::RefundPaymentCommand,
        id: &PaymentId,
        order_id: &str,
        charge_reference: &str,
    ) -> Result<(), HandlerError> {
        let (txn, outbox) = (delivery.txn, delivery.outbox);
        // The command does not carry the amount and payments never learnt it: the whole charge.
        let request = RefundRequest { idempotency_key: format!("refund-{id}"), charge_reference, amount: None };
        let receipt = self
            .provider
            .refund(&request)
            .await
            .map_err(|e| HandlerError::Transient(anyhow::anyhow!("refund of unrecorded charge {id}: {e}")))?;
        store::insert(
            txn,
            NewPayment {
                id: id.as_str(),
                order_id,
                user_id: &command.user_id,
                amount: None,
                status: PaymentStatus::Completed,
                failure_code: "",
                failure_message: "",
                provider_reference: charge_reference,
                refund_reason: &command.reason,
            },
        )
        .await
        .map_err(failure)?;
        store::mark_refunded(txn, id.as_str(), &receipt.reference, &command.reason).await.map_err(failure)?;
        let record = store::get(txn, id.as_str())
            .await
            .map_err(failure)?
            .ok_or_else(|| failure(Error::PaymentNotFound(id.to_string())))?;
        tracing::warn!(payment_id = %id, order_id, reference = %masked(charge_reference), "refunded a charge the provider took but payments had not recorded");
        events::refunded(outbox, txn, &record).await.map_err(failure)
    }
}
