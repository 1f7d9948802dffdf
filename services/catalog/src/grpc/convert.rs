//! Protobuf ⇄ domain. Requests are parsed here, once, into validated domain values — every
//! problem collected as a field violation — so handlers never see a raw string; responses are
//! built here from what storage returns.

use mercato::{catalog::v1 as pb, google::r#type::Money as PbMoney};
use mercato_kit::{error::FieldViolations, money::Money};
use tonic::Status;

use crate::{
    domain::{
        page::{self, ProductCursor},
        product::{self as rules, CategoryId, ProductDraft, ProductId, ProductPatch, Sku},
        stock::{self, Lines, ReservationId, ReservationStatus, Shortage},
    },
    storage::{entity::category, products::ProductRecord, stock::ReservationRecord},
};

pub use mercato_kit::time::timestamp;

/// Longest free-text query accepted.
const MAX_QUERY: usize = 200;
/// Most ids one BatchGetProducts may ask for.
const MAX_BATCH: usize = 100;

/// A validated ListProducts.
#[derive(Debug, Clone)]
pub struct ListProducts {
    /// Lower-cased and trimmed; empty for no text filter.
    pub query: String,
    pub category: Option<CategoryId>,
    pub cursor: Option<ProductCursor>,
    pub limit: u64,
}

pub fn list_products_request(req: pb::ListProductsRequest) -> Result<ListProducts, Status> {
    let mut v = FieldViolations::new();
    let query = req.query.trim().to_lowercase();
    if query.chars().count() > MAX_QUERY {
        v.add("query", format!("must be at most {MAX_QUERY} characters"));
    }
    let raw_category = req.category.trim();
    let category = if raw_category.is_empty() {
        Some(None)
    } else {
        v.check("category", CategoryId::parse(raw_category)).map(Some)
    };
    let limit = v.check("page_size", page::page_size(req.page_size));
    let cursor = if req.page_token.is_empty() {
        Some(None)
    } else {
        v.check("page_token", ProductCursor::decode(&req.page_token, &query, raw_category)).map(Some)
    };
    let (category, (limit, cursor)) = v.finish(category.zip(limit.zip(cursor)))?;
    Ok(ListProducts { query, category, cursor, limit })
}

/// One product id, reported under `field`.
pub fn product_id_request(raw: &str, field: &str) -> Result<ProductId, Status> {
    let mut v = FieldViolations::new();
    let id = v.check(field, ProductId::parse(raw));
    v.finish(id)
}

/// BatchGetProducts' ids, deduplicated in order.
pub fn batch_get_request(req: &pb::BatchGetProductsRequest) -> Result<Vec<ProductId>, Status> {
    let mut v = FieldViolations::new();
    if req.ids.is_empty() {
        v.add("ids", "must name at least one product");
    }
    if req.ids.len() > MAX_BATCH {
        v.add("ids", format!("at most {MAX_BATCH} ids"));
    }
    let mut ids: Vec<ProductId> = Vec::with_capacity(req.ids.len());
    for (i, raw) in req.ids.iter().enumerate() {
        if let Some(id) = v.check(&format!("ids[{i}]"), ProductId::parse(raw))
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    v.finish(Some(ids))
}

/// A product to create and the stock it starts with.
pub fn create_product_request(req: &pb::CreateProductRequest) -> Result<(ProductDraft, i64), Status> {
    let mut v = FieldViolations::new();
    let draft = draft(req.product.as_ref(), &mut v);
    let stock = v.check("initial_stock", rules::initial_stock(req.initial_stock));
    v.finish(draft.zip(stock))
}

pub fn update_product_request(req: &pb::UpdateProductRequest) -> Result<(ProductId, ProductPatch), Status> {
    let mut v = FieldViolations::new();
    let id = v.check("id", ProductId::parse(&req.id));
    let patch = patch(req.product.as_ref(), req.update_mask.as_ref(), &mut v);
    v.finish(id.zip(patch))
}

/// The product and the (non-zero, bounded) change of its on-hand stock.
pub fn adjust_stock_request(req: &pb::AdjustStockRequest) -> Result<(ProductId, i64), Status> {
    let mut v = FieldViolations::new();
    let id = v.check("product_id", ProductId::parse(&req.product_id));
    let delta = v.check("delta", rules::stock_delta(req.delta));
    v.finish(id.zip(delta))
}

/// A validated ReserveStock.
#[derive(Debug, Clone)]
pub struct ReserveStock {
    pub id: ReservationId,
    pub order_id: String,
    pub lines: Lines,
}

pub fn reserve_stock_request(req: &pb::ReserveStockRequest) -> Result<ReserveStock, Status> {
    let mut v = FieldViolations::new();
    let id = v.check("reservation_id", ReservationId::parse(&req.reservation_id));
    let order_id = v.check("order_id", stock::order_ref(&req.order_id));
    let raw: Vec<(String, i32)> = req.lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect();
    let lines = match Lines::new(&raw) {
        Ok(lines) => Some(lines),
        Err(problems) => {
            for (field, problem) in problems {
                v.add(field, problem.to_string());
            }
            None
        }
    };
    let (id, (order_id, lines)) = v.finish(id.zip(order_id.zip(lines)))?;
    Ok(ReserveStock { id, order_id, lines })
}

/// The reservation a Release/Commit/GetReservation names.
pub fn reservation_id_request(raw: &str) -> Result<ReservationId, Status> {
    let mut v = FieldViolations::new();
    let id = v.check("reservation_id", ReservationId::parse(raw));
    v.finish(id)
}

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

/// A price (non-negative, exact), with violations reported under `field` (`product.price`).
fn price(money: Option<&PbMoney>, field: &str, v: &mut FieldViolations) -> Option<Money> {
    let Some(m) = money else {
        v.add(field, "is required");
        return None;
    };
    Money::price(&m.currency_code, m.units, m.nanos)
        .map_err(|e| v.add(format!("{field}.{}", e.field()), e.to_string()))
        .ok()
}

/// A product to create.
fn draft(product: Option<&pb::Product>, v: &mut FieldViolations) -> Option<ProductDraft> {
    let Some(p) = product else {
        v.add("product", "is required");
        return None;
    };
    let sku = v.check("product.sku", Sku::parse(&p.sku));
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
fn patch(
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
        patch.sku = v.check("product.sku", Sku::parse(&p.sku));
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
