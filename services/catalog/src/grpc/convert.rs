//! Protobuf ⇄ domain. Parsing collects every problem as a field violation.

use mercato::{catalog::v1 as pb, google::r#type::Money as PbMoney};
use mercato_kit::error::FieldViolations;

use crate::{
    domain::{
        money::Money,
        product::{self as rules, ProductDraft, ProductPatch},
        stock::{ReservationStatus, Shortage},
    },
    storage::{entity::category, products::ProductRecord, stock::ReservationRecord},
};

pub use mercato_kit::time::timestamp;

pub fn product(record: ProductRecord) -> pb::Product {
    let p = record.product;
    pb::Product {
        id: p.id,
        sku: p.sku,
        name: p.name,
        description: p.description,
        category_ids: record.category_ids,
        price: Some(PbMoney { currency_code: p.price_currency, units: p.price_units, nanos: p.price_nanos }),
        image_url: p.image_url,
        stock: Some(stock_level(record.on_hand, record.reserved)),
        create_time: Some(timestamp(p.created_at)),
        update_time: Some(timestamp(p.updated_at)),
    }
}

pub fn stock_level(on_hand: i64, reserved: i64) -> pb::StockLevel {
    pb::StockLevel { on_hand, reserved, available: on_hand - reserved }
}

pub fn category((c, count): (category::Model, i64)) -> pb::Category {
    pb::Category { id: c.id, name: c.name, description: c.description, product_count: count }
}

pub fn reservation(record: ReservationRecord) -> pb::Reservation {
    let r = record.reservation;
    pb::Reservation {
        id: r.id,
        order_id: r.order_id,
        status: status(record.status) as i32,
        lines: record
            .lines
            .iter()
            .map(|(product_id, quantity)| pb::StockLine { product_id: product_id.to_string(), quantity })
            .collect(),
        shortages: record.shortages.into_iter().map(shortage).collect(),
        create_time: Some(timestamp(r.created_at)),
        update_time: Some(timestamp(r.updated_at)),
    }
}

fn shortage(s: Shortage) -> pb::StockShortage {
    pb::StockShortage { product_id: s.product_id, requested: s.requested, available: s.available }
}

fn status(s: ReservationStatus) -> pb::ReservationStatus {
    match s {
        ReservationStatus::Reserved => pb::ReservationStatus::Reserved,
        ReservationStatus::Rejected => pb::ReservationStatus::Rejected,
        ReservationStatus::Released => pb::ReservationStatus::Released,
        ReservationStatus::Committed => pb::ReservationStatus::Committed,
    }
}

/// A price, with violations reported under `field` (e.g. `product.price`).
pub fn price(money: Option<&PbMoney>, field: &str, v: &mut FieldViolations) -> Option<Money> {
    let Some(m) = money else {
        v.add(field, "is required");
        return None;
    };
    Money::price(&m.currency_code, m.units, m.nanos)
        .map_err(|(sub, problem)| v.add(format!("{field}.{sub}"), problem))
        .ok()
}

/// A product to create.
pub fn draft(product: Option<&pb::Product>, v: &mut FieldViolations) -> Option<ProductDraft> {
    let Some(p) = product else {
        v.add("product", "is required");
        return None;
    };
    let sku = v.check("product.sku", rules::sku(&p.sku));
    let name = v.check("product.name", rules::name(&p.name));
    let description = v.check("product.description", rules::description(&p.description));
    let category_ids = v.check("product.category_ids", rules::category_ids(&p.category_ids));
    let price = price(p.price.as_ref(), "product.price", v);
    let image_url = v.check("product.image_url", rules::image_url(&p.image_url));
    Some(ProductDraft {
        sku: sku?,
        name: name?,
        description: description?,
        category_ids: category_ids?,
        price: price?,
        image_url: image_url?,
    })
}

/// Fields an update may name.
pub const UPDATABLE: &[&str] = &["sku", "name", "description", "category_ids", "price", "image_url"];

/// A patch: the fields in `mask`, or every non-default field of `product` when the mask is
/// empty (AIP-134).
pub fn patch(
    product: Option<&pb::Product>,
    mask: Option<&prost_types::FieldMask>,
    v: &mut FieldViolations,
) -> Option<ProductPatch> {
    let Some(p) = product else {
        v.add("product", "is required");
        return None;
    };
    let paths: Vec<String> = match mask.map(|m| m.paths.as_slice()) {
        Some(paths) if !paths.is_empty() => {
            for path in paths {
                if !UPDATABLE.contains(&path.as_str()) {
                    v.add("update_mask", format!("{path:?} cannot be updated; use any of {}", UPDATABLE.join(", ")));
                }
            }
            paths.to_vec()
        }
        _ => {
            let set = [
                ("sku", !p.sku.is_empty()),
                ("name", !p.name.is_empty()),
                ("description", !p.description.is_empty()),
                ("category_ids", !p.category_ids.is_empty()),
                ("price", p.price.is_some()),
                ("image_url", !p.image_url.is_empty()),
            ];
            set.iter().filter(|(_, present)| *present).map(|(name, _)| name.to_string()).collect()
        }
    };
    let named = |f: &str| paths.iter().any(|p| p == f);
    let mut patch = ProductPatch::default();
    if named("sku") {
        patch.sku = v.check("product.sku", rules::sku(&p.sku));
    }
    if named("name") {
        patch.name = v.check("product.name", rules::name(&p.name));
    }
    if named("description") {
        patch.description = v.check("product.description", rules::description(&p.description));
    }
    if named("category_ids") {
        patch.category_ids = v.check("product.category_ids", rules::category_ids(&p.category_ids));
    }
    if named("price") {
        patch.price = price(p.price.as_ref(), "product.price", v);
    }
    if named("image_url") {
        patch.image_url = v.check("product.image_url", rules::image_url(&p.image_url));
    }
    if patch.is_empty() && v.is_empty() {
        v.add("update_mask", "names no field to update");
    }
    Some(patch)
}
