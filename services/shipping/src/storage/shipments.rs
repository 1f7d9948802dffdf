//! Shipment rows. A shipment is inserted by the consumer of OrderConfirmed and moved on under
//! its row lock by the timer (dispatch, delivery) or the consumer of OrderCancelled, each in
//! the transaction that also puts the event it causes in the outbox.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entity::shipment;
use crate::domain::shipment::{Address, Item, ShipmentStatus};

type Result<T> = std::result::Result<T, DbErr>;

/// A stored shipment, its columns read.
#[derive(Debug, Clone)]
pub struct ShipmentRecord {
    pub row: shipment::Model,
    pub status: ShipmentStatus,
    pub address: Address,
    pub items: Vec<Item>,
}

impl ShipmentRecord {
    fn of(row: shipment::Model) -> Result<Self> {
        let corrupt = |what: &str| DbErr::Custom(format!("shipment {} has an unreadable {what}", row.id));
        let status = ShipmentStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?;
        let address = serde_json::from_str(&row.address).map_err(|_| corrupt("address"))?;
        let items = serde_json::from_str(&row.items).map_err(|_| corrupt("item list"))?;
        Ok(Self { row, status, address, items })
    }
}

/// A shipment to create.
#[derive(Debug)]
pub struct NewShipment<'a> {
    pub id: &'a str,
    pub order_id: &'a str,
    pub user_id: &'a str,
    pub carrier: &'a str,
    pub tracking_number: &'a str,
    pub address: &'a Address,
    pub items: &'a [Item],
    pub due_at: DateTime<Utc>,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewShipment<'_>) -> Result<ShipmentRecord> {
    let now = Utc::now();
    let json = |e: serde_json::Error| DbErr::Custom(format!("encoding shipment {}: {e}", new.id));
    let row = shipment::Model {
        id: new.id.to_string(),
        order_id: new.order_id.to_string(),
        user_id: new.user_id.to_string(),
        status: ShipmentStatus::Pending.as_str().to_string(),
        carrier: new.carrier.to_string(),
        tracking_number: new.tracking_number.to_string(),
        address: serde_json::to_string(new.address).map_err(json)?,
        items: serde_json::to_string(new.items).map_err(json)?,
        created_at: now,
        updated_at: now,
        due_at: Some(new.due_at),
        dispatched_at: None,
        delivered_at: None,
        cancelled_at: None,
    };
    shipment::Entity::insert(row.clone().into_active_model()).exec_without_returning(db).await?;
    ShipmentRecord::of(row)
}

pub async fn by_order(db: &impl ConnectionTrait, order_id: &str) -> Result<Option<ShipmentRecord>> {
    shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(order_id))
        .one(db)
        .await?
        .map(ShipmentRecord::of)
        .transpose()
}

/// The shipment of `order_id`, locked until the transaction ends (PostgreSQL; SQLite's writers
/// are serialized already).
pub async fn lock_by_order(db: &impl ConnectionTrait, order_id: &str) -> Result<Option<ShipmentRecord>> {
    shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(order_id))
        .lock_exclusive()
        .one(db)
        .await?
        .map(ShipmentRecord::of)
        .transpose()
}

pub async fn lock(db: &impl ConnectionTrait, id: &str) -> Result<Option<ShipmentRecord>> {
    shipment::Entity::find_by_id(id).lock_exclusive().one(db).await?.map(ShipmentRecord::of).transpose()
}

/// Ids of shipments whose next move is due at `now`, the longest overdue first.
pub async fn due(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<String>> {
    shipment::Entity::find()
        .select_only()
        .column(shipment::Column::Id)
        .filter(shipment::Column::DueAt.lte(now))
        .order_by_asc(shipment::Column::DueAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Moves `record` to `to` at `now`, its next move due at `next_due` (if any).
pub async fn moved(
    db: &impl ConnectionTrait,
    record: ShipmentRecord,
    to: ShipmentStatus,
    now: DateTime<Utc>,
    next_due: Option<DateTime<Utc>>,
) -> Result<ShipmentRecord> {
    let mut active = record.row.into_active_model();
    active.status = Set(to.as_str().to_string());
    active.updated_at = Set(now);
    active.due_at = Set(next_due);
    match to {
        ShipmentStatus::Dispatched => active.dispatched_at = Set(Some(now)),
        ShipmentStatus::Delivered => active.delivered_at = Set(Some(now)),
        ShipmentStatus::Cancelled => active.cancelled_at = Set(Some(now)),
        ShipmentStatus::Pending => {}
    }
    ShipmentRecord::of(active.update(db).await?)
}
