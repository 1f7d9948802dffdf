//! Wire ↔ domain: requests are validated here (field violations for every problem at once);
//! stored payments become wire messages.

use chrono::{DateTime, Utc};
use mercato::payments::v1 as pb;
use mercato_kit::{error::FieldViolations, page, time::timestamp};
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::{domain::payment::PaymentId, storage::payments::PaymentRecord};

pub fn payment_id_request(raw: &str) -> Result<PaymentId, Status> {
    let mut v = FieldViolations::new();
    let id = v.check("id", PaymentId::parse(raw));
    v.finish(id)
}

/// Where the next page of a listing starts, for the order filter it was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCursor {
    #[serde(rename = "o")]
    pub order_id: String,
    #[serde(rename = "t")]
    pub before_created: DateTime<Utc>,
    #[serde(rename = "i")]
    pub before_id: String,
}

/// A ListPayments request: (order filter, page size, where to start).
pub fn list_request(req: &pb::ListPaymentsRequest) -> Result<(Option<String>, u64, Option<PaymentCursor>), Status> {
    let mut v = FieldViolations::new();
    let limit = v.check("page_size", page::page_size(req.page_size));
    let cursor = v.check(
        "page_token",
        page::cursor_for(&req.page_token, req.order_id.as_str(), |c: &PaymentCursor| c.order_id.as_str(), "order_id"),
    );
    if req.order_id.len() > 128 {
        v.add("order_id", "must be at most 128 characters");
    }
    let (limit, cursor) = v.finish(limit.zip(cursor))?;
    let order = (!req.order_id.is_empty()).then(|| req.order_id.clone());
    Ok((order, limit, cursor))
}

pub fn payment(record: &PaymentRecord) -> pb::Payment {
    let row = &record.row;
    pb::Payment {
        id: row.id.clone(),
        order_id: row.order_id.clone(),
        user_id: row.user_id.clone(),
        amount: record.amount().map(Into::into),
        status: record.status.to_pb() as i32,
        failure_code: row.failure_code.clone(),
        failure_message: row.failure_message.clone(),
        provider_reference: row.provider_reference.clone(),
        create_time: Some(timestamp(row.created_at)),
        update_time: Some(timestamp(row.updated_at)),
    }
}
