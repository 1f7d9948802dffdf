//! The order events shipping reacts to. Each runs in the consumer's transaction, which has
//! already claimed the event id (a redelivery is dropped before it gets here); the unique order
//! id backs that up for the same order confirmed twice under different event ids.

use chrono::Utc;
use mercato::orders::v1 as orders;
use mercato_kit::events::{Delivery, Handler, HandlerError};

use crate::{
    config::Delays,
    domain::{
        carriers::Carriers,
        shipment::{self, Address, Item, ShipmentStatus},
    },
    events,
    storage::shipments::{self as store, NewShipment},
};

/// OrderConfirmed: a new shipment, due for dispatch after the dispatch delay.
#[derive(Debug, Clone)]
pub struct OnConfirmed {
    pub carriers: Carriers,
    pub delays: Delays,
}

impl Handler<orders::OrderConfirmed> for OnConfirmed {
    async fn handle(&self, event: orders::OrderConfirmed, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let txn = delivery.txn;
        if store::by_order(txn, &event.order_id).await?.is_some() {
            return Ok(());
        }
        let Some(address) = event.shipping_address.map(Address::from) else {
            // orders validates the address before it takes an order; one without cannot ship,
            // and no retry will give it one.
            return Err(HandlerError::Permanent(anyhow::anyhow!("order {} has no shipping address", event.order_id)));
        };
        let items: Vec<Item> = event.lines.iter().map(Item::from).collect();
        let id = mercato_kit::domain::new_uuid();
        let carrier = self.carriers.for_country(&address.country_code);
        let tracking_number = shipment::tracking_number();
        let new = NewShipment {
            id: &id,
            order_id: &event.order_id,
            user_id: &event.user_id,
            carrier,
            tracking_number: &tracking_number,
            address: &address,
            items: &items,
            due_at: shipment::after(Utc::now(), self.delays.dispatch),
        };
        // A concurrent insert for the same order (or a tracking number drawn twice) fails on a
        // unique index; the retry finds the shipment, or draws another number.
        store::insert(txn, new).await?;
        tracing::info!(shipment_id = id, order_id = event.order_id, carrier, "shipment created");
        Ok(())
    }
}

/// OrderCancelled: a shipment not yet handed to its carrier is cancelled. One already
/// dispatched goes on (the parcel has left; a return is another process), and an order never
/// confirmed has no shipment to cancel.
#[derive(Debug, Clone)]
pub struct OnCancelled;

impl Handler<orders::OrderCancelled> for OnCancelled {
    async fn handle(&self, event: orders::OrderCancelled, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let txn = delivery.txn;
        let Some(record) = store::lock_by_order(txn, &event.order_id).await? else { return Ok(()) };
        if !record.status.can_cancel() {
            if record.status != ShipmentStatus::Cancelled {
                tracing::warn!(
                    shipment_id = record.row.id,
                    order_id = event.order_id,
                    status = record.status.as_str(),
                    "order cancelled after its shipment left; the shipment goes on"
                );
            }
            return Ok(());
        }
        let saved = store::moved(txn, record, ShipmentStatus::Cancelled, Utc::now(), None).await?;
        delivery.outbox.publish(txn, &events::cancelled(&saved.row)).await?;
        tracing::info!(shipment_id = saved.row.id, order_id = event.order_id, "shipment cancelled");
        Ok(())
    }
}
