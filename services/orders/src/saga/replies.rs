//! The replies of catalog and payments, each kind a durable consumer of orders'. A reply is
//! matched to its order by the order id, and must name the order's own reservation or payment;
//! anything else is logged and dropped, never applied.

use mercato::{catalog::v1 as catalog, payments::v1 as payments};
use mercato_kit::events::{Delivery, Event, Handler, HandlerError};
use sea_orm::DatabaseTransaction;

use super::{Advanced, Detail, Timing, advance, handler_error};
use crate::{domain::saga::Input, metrics::OrderMetrics, storage::orders as store, storage::orders::OrderRecord};

/// A reply of the saga's, as the orchestrator reads it.
pub trait Reply: Event {
    const INPUT: Input;
    fn order_id(&self) -> &str;
    /// Whether it answers this order's command (its reservation, its payment).
    fn answers(&self, order: &OrderRecord) -> bool;
    fn detail(&self) -> Detail {
        Detail::default()
    }
}

/// Consumes replies of kind `E` (one consumer per kind).
#[derive(Debug, Clone)]
pub struct OnReply {
    pub timing: Timing,
    pub metrics: OrderMetrics,
}

impl<E: Reply> Handler<E> for OnReply {
    /// The orders of a batch of replies are locked at once, in id order, so that two batches
    /// (of this kind and of another) holding replies for the same orders cannot deadlock.
    async fn prepare(&self, replies: &[&E], txn: &DatabaseTransaction) -> Result<(), HandlerError> {
        store::lock_all(txn, replies.iter().map(|reply| reply.order_id())).await.map_err(handler_error)
    }

    async fn handle(&self, reply: E, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let (txn, outbox) = (delivery.txn, delivery.outbox);
        let order_id = reply.order_id().to_string();
        let Some(order) = store::lock(txn, &order_id).await.map_err(handler_error)? else {
            // Another saga's (the internal StockService's callers reserve too) or a stray.
            tracing::debug!(order_id, reply = E::INPUT.name(), "reply for no order of ours; dropped");
            return Ok(());
        };
        if !reply.answers(&order) {
            tracing::warn!(order_id, reply = E::INPUT.name(), "reply names another reservation or payment; dropped");
            return Ok(());
        }
        let outcome =
            advance(txn, outbox, self.timing, order, E::INPUT, reply.detail()).await.map_err(handler_error)?;
        if let Advanced::Moved(_, Some(milestone)) = outcome {
            let metrics = self.metrics.clone();
            delivery.on_commit(move || metrics.reached(&milestone));
        }
        Ok(())
    }
}

fn is_reservation(order: &OrderRecord, reservation_id: &str) -> bool {
    order.row.id == reservation_id
}

fn is_payment(order: &OrderRecord, payment_id: &str) -> bool {
    order.row.payment_id == payment_id
}

impl Reply for catalog::StockReserved {
    const INPUT: Input = Input::StockReserved;
    fn order_id(&self) -> &str {
        &self.order_id
    }
    fn answers(&self, order: &OrderRecord) -> bool {
        is_reservation(order, &self.reservation_id)
    }
}

impl Reply for catalog::StockReservationFailed {
    const INPUT: Input = Input::StockReservationFailed;
    fn order_id(&self) -> &str {
        &self.order_id
    }
    fn answers(&self, order: &OrderRecord) -> bool {
        is_reservation(order, &self.reservation_id)
    }
    fn detail(&self) -> Detail {
        let short: Vec<String> = self
            .shortages
            .iter()
            .map(|s| format!("{} ({} asked, {} available)", s.product_id, s.requested, s.available.max(0)))
            .collect();
        Detail { message: format!("out of stock: {}", short.join(", ")), refunded_money: false }
    }
}

impl Reply for catalog::StockReleased {
    const INPUT: Input = Input::StockReleased;
    fn order_id(&self) -> &str {
        &self.order_id
    }
    fn answers(&self, order: &OrderRecord) -> bool {
        is_reservation(order, &self.reservation_id)
    }
}

impl Reply for catalog::StockCommitted {
    const INPUT: Input = Input::StockCommitted;
    fn order_id(&self) -> &str {
        &self.order_id
    }
    fn answers(&self, order: &OrderRecord) -> bool {
        is_reservation(order, &self.reservation_id)
    }
}

impl Reply for payments::PaymentCompleted {
    const INPUT: Input = Input::PaymentCompleted;
    fn order_id(&self) -> &str {
        &self.order_id
    }
    fn answers(&self, order: &OrderRecord) -> bool {
        is_payment(order, &self.payment_id)
    }
}

impl Reply for payments::PaymentFailed {
    const INPUT: Input = Input::PaymentFailed;
    fn order_id(&self) -> &str {
        &self.order_id
    }
    fn answers(&self, order: &OrderRecord) -> bool {
        is_payment(order, &self.payment_id)
    }
    fn detail(&self) -> Detail {
        let message = if self.failure_message.is_empty() {
            format!("payment declined ({})", self.failure_code)
        } else {
            format!("payment declined ({}): {}", self.failure_code, self.failure_message)
        };
        Detail { message, refunded_money: false }
    }
}

impl Reply for payments::PaymentRefunded {
    const INPUT: Input = Input::PaymentRefunded;
    fn order_id(&self) -> &str {
        &self.order_id
    }
    fn answers(&self, order: &OrderRecord) -> bool {
        is_payment(order, &self.payment_id)
    }
    fn detail(&self) -> Detail {
        // A refund that overtook its charge carries no amount: nothing was taken.
        Detail { message: String::new(), refunded_money: self.amount.is_some() }
    }
}
