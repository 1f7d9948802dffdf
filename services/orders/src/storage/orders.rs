//! Orders, their lines and their saga log.
//!
//! A saga moves an order by [`save`], which updates the row only if its `version` is the one
//! read: with the row locked ([`lock`]) that always holds, and if a caller forgot the lock
//! the update fails instead of overwriting another transaction's move.

use chrono::{DateTime, Utc};
use mercato_kit::money::Money;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

use super::entity::{order, order_line, order_step};
use crate::{
    domain::{
        order::{Address, Status},
        saga::{Reason, Step},
    },
    error::Result,
};

/// A stored order, its saga step decoded.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub row: order::Model,
    pub step: Step,
}

impl OrderRecord {
    fn of(row: order::Model) -> Result<Self> {
        let reason = Reason::parse(&row.reason);
        let step = Step::parse(&row.step, reason).ok_or_else(|| {
            DbErr::Custom(format!("order {} has an unknown saga step {:?} ({:?})", row.id, row.step, row.reason))
        })?;
        Ok(Self { row, step })
    }

    pub fn status(&self) -> Status {
        Status::of(self.step)
    }

    pub fn subtotal(&self) -> Option<Money> {
        Money::new(&self.row.currency, self.row.subtotal_units, self.row.subtotal_nanos).ok()
    }

    pub fn total(&self) -> Option<Money> {
        Money::new(&self.row.currency, self.row.total_units, self.row.total_nanos).ok()
    }

    pub fn address(&self) -> Option<Address> {
        serde_json::from_str(&self.row.shipping_address).ok()
    }
}

/// One priced line of a new order.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub product_id: String,
    pub product_name: String,
    pub unit_price: Money,
    pub quantity: u32,
    pub total: Money,
}

/// A new order, as PlaceOrder records it.
#[derive(Debug)]
pub struct NewOrder<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub idempotency_key: &'a str,
    pub subtotal: Money,
    pub total: Money,
    pub address: &'a Address,
    pub payment_id: &'a str,
    pub payment_token: &'a str,
    pub lines: &'a [NewLine],
    pub step: Step,
    pub deadline_at: DateTime<Utc>,
}

/// Inserts the order and its lines; both as stored. A second order for the same (user, key)
/// is refused by the unique index (see `mercato_kit::db::is_unique_violation`).
pub async fn insert(db: &impl ConnectionTrait, new: NewOrder<'_>) -> Result<(OrderRecord, Vec<order_line::Model>)> {
    let now = Utc::now();
    let address = serde_json::to_string(new.address).map_err(|e| DbErr::Custom(format!("address: {e}")))?;
    let row = order::Model {
        id: new.id.to_string(),
        user_id: new.user_id.to_string(),
        idempotency_key: new.idempotency_key.to_string(),
        status: Status::of(new.step).as_str().to_string(),
        step: new.step.as_str().to_string(),
        reason: String::new(),
        cancellation_message: String::new(),
        currency: new.total.currency().as_str().to_string(),
        subtotal_units: new.subtotal.units(),
        subtotal_nanos: new.subtotal.nanos(),
        total_units: new.total.units(),
        total_nanos: new.total.nanos(),
        shipping_address: address,
        payment_id: new.payment_id.to_string(),
        payment_token: new.payment_token.to_string(),
        payment_refunded: false,
        version: 1,
        deadline_at: Some(new.deadline_at),
        created_at: now,
        updated_at: now,
    };
    order::Entity::insert(row.clone().into_active_model().reset_all()).exec_without_returning(db).await?;
    let lines: Vec<order_line::Model> = new
        .lines
        .iter()
        .enumerate()
        .map(|(position, line)| order_line::Model {
            order_id: new.id.to_string(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            product_id: line.product_id.clone(),
            product_name: line.product_name.clone(),
            unit_units: line.unit_price.units(),
            unit_nanos: line.unit_price.nanos(),
            quantity: i32::try_from(line.quantity).unwrap_or(i32::MAX),
            total_units: line.total.units(),
            total_nanos: line.total.nanos(),
        })
        .collect();
    order_line::Entity::insert_many(lines.iter().map(|l| l.clone().into_active_model().reset_all()))
        .exec_without_returning(db)
        .await?;
    Ok((OrderRecord::of(row)?, lines))
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<OrderRecord>> {
    order::Entity::find_by_id(id).one(db).await?.map(OrderRecord::of).transpose()
}

/// The order, its row locked until the transaction ends (PostgreSQL; SQLite's write
/// transaction holds the whole database already).
pub async fn lock(db: &impl ConnectionTrait, id: &str) -> Result<Option<OrderRecord>> {
    order::Entity::find_by_id(id).lock_exclusive().one(db).await?.map(OrderRecord::of).transpose()
}

/// Locks the orders `ids` in id order (PostgreSQL; SQLite's writers are serialized already).
pub async fn lock_all<'i>(txn: &DatabaseTransaction, ids: impl IntoIterator<Item = &'i str>) -> Result<()> {
    Ok(mercato_kit::db::lock_in_order(txn, order::Column::Id, ids).await?)
}

pub async fn by_key(db: &impl ConnectionTrait, user_id: &str, key: &str) -> Result<Option<OrderRecord>> {
    order::Entity::find()
        .filter(order::Column::UserId.eq(user_id))
        .filter(order::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?
        .map(OrderRecord::of)
        .transpose()
}

pub async fn lines(db: &impl ConnectionTrait, order_id: &str) -> Result<Vec<order_line::Model>> {
    Ok(order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order_id))
        .order_by_asc(order_line::Column::Position)
        .all(db)
        .await?)
}

/// The lines of several orders, for a page of a listing.
pub async fn lines_of(db: &impl ConnectionTrait, order_ids: &[&str]) -> Result<Vec<order_line::Model>> {
    if order_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(order_line::Entity::find()
        .filter(order_line::Column::OrderId.is_in(order_ids.iter().copied()))
        .order_by_asc(order_line::Column::OrderId)
        .order_by_asc(order_line::Column::Position)
        .all(db)
        .await?)
}

/// How a saga move changes its order.
#[derive(Debug, Clone)]
pub struct Move {
    pub step: Step,
    /// The cancellation message, set once, when the saga first turns to cancelling.
    pub message: Option<String>,
    pub deadline_at: Option<DateTime<Utc>>,
    /// The token has gone to payments and is not needed again.
    pub forget_token: bool,
    pub payment_refunded: bool,
}

/// Applies `change` to the order as `record` read it; the updated order.
pub async fn save(db: &impl ConnectionTrait, record: &OrderRecord, change: Move) -> Result<OrderRecord> {
    let now = Utc::now();
    let mut row = record.row.clone();
    row.step = change.step.as_str().to_string();
    row.status = Status::of(change.step).as_str().to_string();
    row.reason = change.step.reason().map_or("", Reason::as_str).to_string();
    if let Some(message) = change.message {
        row.cancellation_message = message;
    }
    if change.forget_token {
        row.payment_token = String::new();
    }
    row.payment_refunded |= change.payment_refunded;
    row.deadline_at = change.deadline_at;
    row.version += 1;
    row.updated_at = now;
    let updated = order::Entity::update_many()
        .col_expr(order::Column::Step, Expr::value(row.step.clone()))
        .col_expr(order::Column::Status, Expr::value(row.status.clone()))
        .col_expr(order::Column::Reason, Expr::value(row.reason.clone()))
        .col_expr(order::Column::CancellationMessage, Expr::value(row.cancellation_message.clone()))
        .col_expr(order::Column::PaymentToken, Expr::value(row.payment_token.clone()))
        .col_expr(order::Column::PaymentRefunded, Expr::value(row.payment_refunded))
        .col_expr(order::Column::DeadlineAt, Expr::value(row.deadline_at))
        .col_expr(order::Column::Version, Expr::value(row.version))
        .col_expr(order::Column::UpdatedAt, Expr::value(now))
        .filter(order::Column::Id.eq(row.id.as_str()))
        .filter(order::Column::Version.eq(record.row.version))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(DbErr::Custom(format!("order {} changed concurrently; try again", row.id)).into());
    }
    OrderRecord::of(row)
}

/// One line of an order's saga log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub step: &'static str,
    pub kind: &'static str,
    pub name: &'static str,
    pub outcome: String,
}

pub async fn log(db: &impl ConnectionTrait, order_id: &str, entries: Vec<LogEntry>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = entries.into_iter().map(|e| order_step::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        order_id: Set(order_id.to_string()),
        at: Set(now),
        step: Set(e.step.to_string()),
        kind: Set(e.kind.to_string()),
        name: Set(e.name.to_string()),
        outcome: Set(e.outcome),
    });
    order_step::Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(())
}

pub async fn steps(db: &impl ConnectionTrait, order_id: &str) -> Result<Vec<order_step::Model>> {
    Ok(order_step::Entity::find()
        .filter(order_step::Column::OrderId.eq(order_id))
        .order_by_asc(order_step::Column::Id)
        .all(db)
        .await?)
}

/// Which orders a listing covers.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Only this user's (`None`: everyone's, for admins).
    pub owner: Option<String>,
    pub status: Option<Status>,
    /// Strictly older than this (created_at, id), newest first.
    pub before: Option<(DateTime<Utc>, String)>,
    pub limit: u64,
}

pub async fn list(db: &impl ConnectionTrait, listing: &Listing) -> Result<Vec<OrderRecord>> {
    let mut query = order::Entity::find();
    if let Some(owner) = &listing.owner {
        query = query.filter(order::Column::UserId.eq(owner.as_str()));
    }
    if let Some(status) = listing.status {
        query = query.filter(order::Column::Status.eq(status.as_str()));
    }
    if let Some((created_at, id)) = &listing.before {
        query = query.filter(Condition::any().add(order::Column::CreatedAt.lt(*created_at)).add(
            Condition::all().add(order::Column::CreatedAt.eq(*created_at)).add(order::Column::Id.lt(id.as_str())),
        ));
    }
    let rows = query
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .limit(listing.limit)
        .all(db)
        .await?;
    rows.into_iter().map(OrderRecord::of).collect()
}

/// Ids of orders whose current step is past its deadline, soonest first.
pub async fn due(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<String>> {
    let rows: Vec<String> = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::DeadlineAt.lte(now))
        .order_by_asc(order::Column::DeadlineAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows)
}

/// When the next deadline falls, if any step has one.
pub async fn next_deadline(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>> {
    let next: Option<Option<DateTime<Utc>>> = order::Entity::find()
        .select_only()
        .column(order::Column::DeadlineAt)
        .filter(order::Column::DeadlineAt.is_not_null())
        .order_by_asc(order::Column::DeadlineAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(next.flatten())
}
