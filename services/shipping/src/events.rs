//! Where shipping's events go, and the events it publishes built from a shipment.

use chrono::Utc;
use mercato::shipping::v1 as pb;
use mercato_kit::time::timestamp;

use crate::storage::entity::shipment;

/// shipping's stream: everything under `shipping.v1.`.
pub const STREAM: &str = "SHIPPING";

/// The stream of orders' events, which shipping follows.
pub const ORDERS: &str = "ORDERS";

pub fn dispatched(row: &shipment::Model) -> pb::ShipmentDispatched {
    pb::ShipmentDispatched {
        shipment_id: row.id.clone(),
        order_id: row.order_id.clone(),
        user_id: row.user_id.clone(),
        carrier: row.carrier.clone(),
        tracking_number: row.tracking_number.clone(),
        occurred_at: Some(timestamp(Utc::now())),
    }
}

pub fn delivered(row: &shipment::Model) -> pb::ShipmentDelivered {
    pb::ShipmentDelivered {
        shipment_id: row.id.clone(),
        order_id: row.order_id.clone(),
        user_id: row.user_id.clone(),
        carrier: row.carrier.clone(),
        tracking_number: row.tracking_number.clone(),
        occurred_at: Some(timestamp(Utc::now())),
    }
}

pub fn cancelled(row: &shipment::Model) -> pb::ShipmentCancelled {
    pb::ShipmentCancelled {
        shipment_id: row.id.clone(),
        order_id: row.order_id.clone(),
        user_id: row.user_id.clone(),
        occurred_at: Some(timestamp(Utc::now())),
    }
}
