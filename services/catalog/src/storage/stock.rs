//! Stock reservations. Each operation runs inside the caller's write transaction
//! (`mercato_kit::db::begin_write`), so whatever else the caller writes — the events of the
//! change, next — commits or rolls back with it. On SQLite that transaction holds the write lock
//! from BEGIN, on PostgreSQL the conditional UPDATEs lock the rows they change, so two
//! reservations can never both take the last unit. The CHECK constraints on inventory back
//! this up.

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, ExprTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use super::entity::{inventory, reservation, reservation_line};
use crate::{
    domain::stock::{Lines, ReservationStatus, Shortage},
    error::{Error, Result},
};

/// A reservation with its lines and, if rejected, its shortages.
#[derive(Debug, Clone)]
pub struct ReservationRecord {
    pub reservation: reservation::Model,
    pub status: ReservationStatus,
    pub lines: Lines,
    pub shortages: Vec<Shortage>,
    /// Whether this call moved stock (false for a replay or a rejection): the events of a
    /// change are published once, by the call that made it.
    pub moved: bool,
}

/// Reserves every line or none. Replays (same id) return the stored outcome.
pub async fn reserve(txn: &DatabaseTransaction, id: &str, order_id: &str, lines: &Lines) -> Result<ReservationRecord> {
    let now = Utc::now();
    let inserted = reservation::Entity::insert(reservation::ActiveModel {
        id: Set(id.to_string()),
        order_id: Set(order_id.to_string()),
        status: Set(ReservationStatus::Reserved.as_str().to_string()),
        shortages: Set("[]".to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(OnConflict::column(reservation::Column::Id).do_nothing().to_owned())
    .exec_without_returning(txn)
    .await?;
    if inserted == 0 {
        let existing = load(txn, id).await?.ok_or_else(|| Error::ReservationNotFound(id.to_string()))?;
        // A RELEASED tombstone has no lines: the release won the race, nothing is reserved.
        if existing.status != ReservationStatus::Released && existing.lines != *lines {
            return Err(Error::ReservationConflict(id.to_string()));
        }
        return Ok(existing);
    }

    reservation_line::Entity::insert_many(lines.iter().map(|(product_id, quantity)| reservation_line::ActiveModel {
        reservation_id: Set(id.to_string()),
        product_id: Set(product_id.to_string()),
        quantity: Set(quantity),
    }))
    .exec_without_returning(txn)
    .await?;

    // Take every line inside a savepoint, so a shortage on any line undoes the others.
    let attempt = txn.begin().await?;
    let mut short = false;
    for (product_id, quantity) in lines.iter() {
        let updated = inventory::Entity::update_many()
            .col_expr(inventory::Column::Reserved, Expr::col(inventory::Column::Reserved).add(quantity))
            .col_expr(inventory::Column::UpdatedAt, Expr::value(now))
            .filter(inventory::Column::ProductId.eq(product_id))
            .filter(Expr::col(inventory::Column::OnHand).sub(Expr::col(inventory::Column::Reserved)).gte(quantity))
            .exec(&attempt)
            .await?;
        if updated.rows_affected == 0 {
            short = true;
            break;
        }
    }
    if short {
        attempt.rollback().await?;
        let shortages = shortages(txn, lines).await?;
        reservation::Entity::update_many()
            .col_expr(reservation::Column::Status, Expr::value(ReservationStatus::Rejected.as_str()))
            .col_expr(
                reservation::Column::Shortages,
                Expr::value(serde_json::to_string(&shortages).unwrap_or_else(|_| "[]".into())),
            )
            .filter(reservation::Column::Id.eq(id))
            .exec(txn)
            .await?;
        tracing::info!(reservation_id = id, order_id, ?shortages, "reservation rejected");
    } else {
        attempt.commit().await?;
        tracing::info!(reservation_id = id, order_id, "stock reserved");
    }
    let record = load(txn, id).await?.ok_or_else(|| Error::ReservationNotFound(id.to_string()))?;
    Ok(ReservationRecord { moved: !short, ..record })
}

/// Returns held units. Releasing an unknown id leaves a RELEASED tombstone.
pub async fn release(txn: &DatabaseTransaction, id: &str) -> Result<ReservationRecord> {
    let now = Utc::now();
    let moved = transition(txn, id, ReservationStatus::Reserved, ReservationStatus::Released).await?;
    if moved {
        for (product_id, quantity) in load_lines(txn, id).await?.iter() {
            inventory::Entity::update_many()
                .col_expr(inventory::Column::Reserved, Expr::col(inventory::Column::Reserved).sub(quantity))
                .col_expr(inventory::Column::UpdatedAt, Expr::value(now))
                .filter(inventory::Column::ProductId.eq(product_id))
                .exec(txn)
                .await?;
        }
        tracing::info!(reservation_id = id, "stock released");
    } else {
        match load(txn, id).await? {
            None => {
                reservation::Entity::insert(reservation::ActiveModel {
                    id: Set(id.to_string()),
                    order_id: Set(String::new()),
                    status: Set(ReservationStatus::Released.as_str().to_string()),
                    shortages: Set("[]".to_string()),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .exec_without_returning(txn)
                .await?;
                tracing::info!(reservation_id = id, "release before reservation: tombstone recorded");
            }
            Some(r) if r.status == ReservationStatus::Committed => {
                return Err(Error::ReservationState { id: id.to_string(), status: "COMMITTED", action: "released" });
            }
            Some(_) => {}
        }
    }
    let record = load(txn, id).await?.ok_or_else(|| Error::ReservationNotFound(id.to_string()))?;
    Ok(ReservationRecord { moved, ..record })
}

/// Sells held units: on hand and reserved both drop.
pub async fn commit(txn: &DatabaseTransaction, id: &str) -> Result<ReservationRecord> {
    let now = Utc::now();
    let moved = transition(txn, id, ReservationStatus::Reserved, ReservationStatus::Committed).await?;
    if moved {
        for (product_id, quantity) in load_lines(txn, id).await?.iter() {
            inventory::Entity::update_many()
                .col_expr(inventory::Column::OnHand, Expr::col(inventory::Column::OnHand).sub(quantity))
                .col_expr(inventory::Column::Reserved, Expr::col(inventory::Column::Reserved).sub(quantity))
                .col_expr(inventory::Column::UpdatedAt, Expr::value(now))
                .filter(inventory::Column::ProductId.eq(product_id))
                .exec(txn)
                .await?;
        }
        tracing::info!(reservation_id = id, "stock committed");
    } else {
        match load(txn, id).await? {
            None => return Err(Error::ReservationNotFound(id.to_string())),
            Some(r) if r.status != ReservationStatus::Committed => {
                return Err(Error::ReservationState {
                    id: id.to_string(),
                    status: r.status.as_str(),
                    action: "committed",
                });
            }
            Some(_) => {}
        }
    }
    let record = load(txn, id).await?.ok_or_else(|| Error::ReservationNotFound(id.to_string()))?;
    Ok(ReservationRecord { moved, ..record })
}

/// Locks the inventory rows of `products` in product order (PostgreSQL; a no-op on SQLite,
/// whose writers are serialized already), so the updates that follow in this transaction
/// cannot deadlock with another transaction's.
pub async fn lock_inventory<'p>(txn: &DatabaseTransaction, products: impl IntoIterator<Item = &'p str>) -> Result<()> {
    Ok(mercato_kit::db::lock_in_order(txn, inventory::Column::ProductId, products).await?)
}

/// [`lock_inventory`] for the products held by the reservations `ids` (those releasing or
/// committing them are about to update exactly those rows).
pub async fn lock_reserved<'i>(txn: &DatabaseTransaction, ids: impl IntoIterator<Item = &'i str>) -> Result<()> {
    if txn.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    let ids: Vec<&str> = ids.into_iter().collect();
    let lines =
        reservation_line::Entity::find().filter(reservation_line::Column::ReservationId.is_in(ids)).all(txn).await?;
    lock_inventory(txn, lines.iter().map(|line| line.product_id.as_str())).await
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<ReservationRecord>> {
    load(db, id).await
}

/// Moves `id` from `from` to `to` if it is in `from`; the UPDATE is also the row lock.
async fn transition(
    txn: &impl ConnectionTrait,
    id: &str,
    from: ReservationStatus,
    to: ReservationStatus,
) -> Result<bool> {
    let updated = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(to.as_str()))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(reservation::Column::Id.eq(id))
        .filter(reservation::Column::Status.eq(from.as_str()))
        .exec(txn)
        .await?;
    Ok(updated.rows_affected == 1)
}

async fn shortages(db: &impl ConnectionTrait, lines: &Lines) -> Result<Vec<Shortage>> {
    let levels = inventory::Entity::find()
        .filter(inventory::Column::ProductId.is_in(lines.iter().map(|(id, _)| id)))
        .all(db)
        .await?;
    Ok(lines
        .iter()
        .filter_map(|(product_id, requested)| {
            let available = levels.iter().find(|l| l.product_id == product_id).map_or(0, |l| l.on_hand - l.reserved);
            (available < i64::from(requested)).then(|| Shortage {
                product_id: product_id.to_string(),
                requested,
                available,
            })
        })
        .collect())
}

async fn load_lines(db: &impl ConnectionTrait, id: &str) -> Result<Lines> {
    let rows = reservation_line::Entity::find().filter(reservation_line::Column::ReservationId.eq(id)).all(db).await?;
    Ok(Lines::from_stored(rows.into_iter().map(|r| (r.product_id, r.quantity))))
}

async fn load(db: &impl ConnectionTrait, id: &str) -> Result<Option<ReservationRecord>> {
    let Some(reservation) = reservation::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let status = ReservationStatus::parse(&reservation.status).ok_or_else(|| {
        Error::Database(sea_orm::DbErr::Custom(format!("reservation {id} has unknown status {:?}", reservation.status)))
    })?;
    let shortages = serde_json::from_str(&reservation.shortages).unwrap_or_default();
    Ok(Some(ReservationRecord { lines: load_lines(db, id).await?, status, shortages, reservation, moved: false }))
}
