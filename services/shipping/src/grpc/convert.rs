//! Wire ↔ domain: requests are validated here (field violations for every problem at once);
//! stored shipments become wire messages.

use mercato::shipping::v1 as pb;
use mercato_kit::{domain::parse_uuid, error::FieldViolations, time::timestamp};
use tonic::Status;

use crate::storage::shipments::ShipmentRecord;

/// The order id of a GetShipment request (orders' ids are UUIDs).
pub fn order_id_request(raw: &str) -> Result<String, Status> {
    let mut v = FieldViolations::new();
    let id = v.check("order_id", parse_uuid(raw, "order"));
    v.finish(id)
}

pub fn shipment(record: &ShipmentRecord) -> pb::Shipment {
    let row = &record.row;
    pb::Shipment {
        id: row.id.clone(),
        order_id: row.order_id.clone(),
        user_id: row.user_id.clone(),
        status: record.status.to_pb() as i32,
        carrier: row.carrier.clone(),
        tracking_number: row.tracking_number.clone(),
        address: Some(record.address.clone().into()),
        items: record.items.iter().cloned().map(Into::into).collect(),
        create_time: Some(timestamp(row.created_at)),
        dispatch_time: row.dispatched_at.map(timestamp),
        delivery_time: row.delivered_at.map(timestamp),
        cancel_time: row.cancelled_at.map(timestamp),
    }
}
