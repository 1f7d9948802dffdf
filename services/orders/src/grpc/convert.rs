//! Wire ↔ domain: requests are validated here (field violations for every problem at once);
//! stored carts and orders become wire messages.

use chrono::{DateTime, Utc};
use mercato::orders::v1 as pb;
use mercato_kit::{
    card_token::CardToken, domain::parse_uuid, error::FieldViolations, money::Money, page, time::timestamp,
};
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::{
    domain::{
        cart::Quantity,
        order::{Address, IdempotencyKey, OrderId, Status as OrderStatus, cancel_note},
        saga::Reason,
    },
    storage::{
        entity::{cart_item, order_line, order_step},
        orders::OrderRecord,
    },
};

pub fn order_id_request(raw: &str) -> Result<OrderId, Status> {
    let mut v = FieldViolations::new();
    let id = v.check("id", OrderId::parse(raw));
    v.finish(id)
}

pub fn product_id(v: &mut FieldViolations, raw: &str) -> Option<String> {
    v.check("product_id", parse_uuid(raw, "product"))
}

/// An AddCartItem request: (product id, quantity).
pub fn add_item_request(req: &pb::AddCartItemRequest) -> Result<(String, Quantity), Status> {
    let mut v = FieldViolations::new();
    let id = product_id(&mut v, &req.product_id);
    let quantity = v.check("quantity", Quantity::parse(req.quantity));
    v.finish(id.zip(quantity))
}

/// A PlaceOrder request, checked.
#[derive(Debug)]
pub struct Checkout {
    pub key: IdempotencyKey,
    pub address: Address,
    pub token: CardToken,
}

pub fn place_request(req: &pb::PlaceOrderRequest) -> Result<Checkout, Status> {
    let mut v = FieldViolations::new();
    let key = v.check("idempotency_key", IdempotencyKey::parse(&req.idempotency_key));
    let address = match &req.shipping_address {
        None => {
            v.add("shipping_address", "is required");
            None
        }
        Some(a) => {
            let address = Address {
                recipient_name: a.recipient_name.clone(),
                address_lines: a.address_lines.clone(),
                city: a.city.clone(),
                region: a.region.clone(),
                postal_code: a.postal_code.clone(),
                country_code: a.country_code.clone(),
                phone: a.phone.clone(),
            };
            let problems = address.check();
            for (field, why) in &problems {
                v.add(format!("shipping_address.{field}"), why.clone());
            }
            problems.is_empty().then_some(address)
        }
    };
    let token = v.check("payment_method_token", CardToken::parse(&req.payment_method_token));
    let checkout = match (key, address, token) {
        (Some(key), Some(address), Some(token)) => Some(Checkout { key, address, token }),
        _ => None,
    };
    v.finish(checkout)
}

pub fn cancel_request(req: &pb::CancelOrderRequest) -> Result<(OrderId, String), Status> {
    let mut v = FieldViolations::new();
    let id = v.check("id", OrderId::parse(&req.id));
    let note = v.check("reason", cancel_note(&req.reason));
    v.finish(id.zip(note))
}

/// Where the next page of a listing starts, for the status filter it was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCursor {
    #[serde(rename = "s")]
    pub status: i32,
    #[serde(rename = "t")]
    pub before_created: DateTime<Utc>,
    #[serde(rename = "i")]
    pub before_id: String,
}

/// A ListOrders request: (status filter, page size, where to start).
pub fn list_request(req: &pb::ListOrdersRequest) -> Result<(Option<OrderStatus>, u64, Option<OrderCursor>), Status> {
    let mut v = FieldViolations::new();
    let limit = v.check("page_size", page::page_size(req.page_size));
    let status = match pb::OrderStatus::try_from(req.status) {
        Ok(pb::OrderStatus::Unspecified) => Some(None),
        Ok(known) => Some(Some(status_of_pb(known))),
        Err(_) => {
            v.add("status", format!("{} is not an order status", req.status));
            None
        }
    };
    let cursor =
        v.check("page_token", page::cursor_for(&req.page_token, &req.status, |c: &OrderCursor| &c.status, "status"));
    let ((limit, status), cursor) = v.finish(limit.zip(status).zip(cursor))?;
    Ok((status, limit, cursor))
}

fn status_of_pb(status: pb::OrderStatus) -> OrderStatus {
    match status {
        pb::OrderStatus::Unspecified | pb::OrderStatus::Pending => OrderStatus::Pending,
        pb::OrderStatus::StockReserved => OrderStatus::StockReserved,
        pb::OrderStatus::Paid => OrderStatus::Paid,
        pb::OrderStatus::Confirmed => OrderStatus::Confirmed,
        pb::OrderStatus::Cancelling => OrderStatus::Cancelling,
        pb::OrderStatus::Cancelled => OrderStatus::Cancelled,
    }
}

pub fn status(status: OrderStatus) -> pb::OrderStatus {
    match status {
        OrderStatus::Pending => pb::OrderStatus::Pending,
        OrderStatus::StockReserved => pb::OrderStatus::StockReserved,
        OrderStatus::Paid => pb::OrderStatus::Paid,
        OrderStatus::Confirmed => pb::OrderStatus::Confirmed,
        OrderStatus::Cancelling => pb::OrderStatus::Cancelling,
        OrderStatus::Cancelled => pb::OrderStatus::Cancelled,
    }
}

pub fn reason(reason: Option<Reason>) -> pb::CancellationReason {
    match reason {
        None => pb::CancellationReason::Unspecified,
        Some(Reason::OutOfStock) => pb::CancellationReason::OutOfStock,
        Some(Reason::PaymentDeclined) => pb::CancellationReason::PaymentDeclined,
        Some(Reason::Timeout) => pb::CancellationReason::Timeout,
        Some(Reason::UserCancelled) => pb::CancellationReason::UserCancelled,
    }
}

pub fn address(a: &Address) -> pb::Address {
    pb::Address {
        recipient_name: a.recipient_name.clone(),
        address_lines: a.address_lines.clone(),
        city: a.city.clone(),
        region: a.region.clone(),
        postal_code: a.postal_code.clone(),
        country_code: a.country_code.clone(),
        phone: a.phone.clone(),
    }
}

fn money(currency: &str, units: i64, nanos: i32) -> Option<mercato::google::r#type::Money> {
    Money::new(currency, units, nanos).ok().map(Into::into)
}

pub fn line(currency: &str, row: &order_line::Model) -> pb::OrderLine {
    pb::OrderLine {
        product_id: row.product_id.clone(),
        product_name: row.product_name.clone(),
        unit_price: money(currency, row.unit_units, row.unit_nanos),
        quantity: row.quantity,
        line_total: money(currency, row.total_units, row.total_nanos),
    }
}

/// The order as its owner sees it (never the payment token).
pub fn order(record: &OrderRecord, lines: &[order_line::Model]) -> pb::Order {
    let row = &record.row;
    pb::Order {
        id: row.id.clone(),
        user_id: row.user_id.clone(),
        status: status(record.status()) as i32,
        cancellation_reason: reason(record.step.reason()) as i32,
        cancellation_message: row.cancellation_message.clone(),
        lines: lines.iter().filter(|l| l.order_id == row.id).map(|l| line(&row.currency, l)).collect(),
        subtotal: record.subtotal().map(Into::into),
        total: record.total().map(Into::into),
        shipping_address: record.address().as_ref().map(address),
        // The token is forgotten when the charge command carries it off.
        payment_id: if row.payment_token.is_empty() { row.payment_id.clone() } else { String::new() },
        create_time: Some(timestamp(row.created_at)),
        update_time: Some(timestamp(row.updated_at)),
    }
}

pub fn step(row: &order_step::Model) -> pb::OrderStep {
    pb::OrderStep {
        time: Some(timestamp(row.at)),
        step: row.step.clone(),
        kind: row.kind.clone(),
        name: row.name.clone(),
        outcome: row.outcome.clone(),
    }
}

pub fn cart(user_id: &str, items: &[cart_item::Model]) -> pb::Cart {
    pb::Cart {
        user_id: user_id.to_string(),
        items: items
            .iter()
            .map(|i| pb::CartItem {
                product_id: i.product_id.clone(),
                quantity: i.quantity,
                product_name: i.product_name.clone(),
                unit_price: money(&i.price_currency, i.price_units, i.price_nanos),
            })
            .collect(),
        update_time: items.iter().map(|i| i.updated_at).max().map(timestamp),
    }
}
