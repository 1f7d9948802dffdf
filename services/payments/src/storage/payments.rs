//! Payment rows. A charge's row is inserted with its outcome, in the transaction that also
//! records the command as processed and the reply in the outbox; the primary key (payment
//! id) and the unique order id make a second charge of either impossible.

use chrono::{DateTime, Utc};
use mercato_kit::money::Money;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};

use super::entity::payment;
use crate::{domain::payment::PaymentStatus, error::Result};

/// A stored payment.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub row: payment::Model,
    pub status: PaymentStatus,
}

impl PaymentRecord {
    fn of(row: payment::Model) -> Result<Self> {
        let status = PaymentStatus::parse(&row.status)
            .ok_or_else(|| sea_orm::DbErr::Custom(format!("payment {} has unknown status {:?}", row.id, row.status)))?;
        Ok(Self { row, status })
    }

    /// What was (or was to be) charged; `None` when nothing ever was (a refund that came
    /// before its charge).
    pub fn amount(&self) -> Option<Money> {
        if self.row.amount_currency.is_empty() {
            return None;
        }
        Money::new(&self.row.amount_currency, self.row.amount_units, self.row.amount_nanos).ok()
    }

    /// Whether money was taken (and so, once refunded, returned).
    pub fn was_charged(&self) -> bool {
        !self.row.provider_reference.is_empty()
    }
}

/// A payment row to insert.
#[derive(Debug)]
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub order_id: &'a str,
    pub user_id: &'a str,
    pub amount: Option<Money>,
    pub status: PaymentStatus,
    pub failure_code: &'a str,
    pub failure_message: &'a str,
    pub provider_reference: &'a str,
    pub refund_reason: &'a str,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewPayment<'_>) -> Result<PaymentRecord> {
    let now = Utc::now();
    let (currency, units, nanos) = match new.amount {
        Some(money) => (money.currency().as_str().to_string(), money.units(), money.nanos()),
        None => (String::new(), 0, 0),
    };
    let row = payment::Model {
        id: new.id.to_string(),
        order_id: new.order_id.to_string(),
        user_id: new.user_id.to_string(),
        amount_currency: currency,
        amount_units: units,
        amount_nanos: nanos,
        status: new.status.as_str().to_string(),
        failure_code: new.failure_code.to_string(),
        failure_message: new.failure_message.to_string(),
        provider_reference: new.provider_reference.to_string(),
        refund_reference: String::new(),
        refund_reason: new.refund_reason.to_string(),
        created_at: now,
        updated_at: now,
    };
    // Every column is the new row's: insert them all.
    payment::Entity::insert(row.clone().into_active_model().reset_all()).exec_without_returning(db).await?;
    PaymentRecord::of(row)
}

/// Records a charge's outcome on the row its handler claimed in the same transaction.
pub async fn settle(
    db: &impl ConnectionTrait,
    id: &str,
    status: PaymentStatus,
    failure_code: &str,
    failure_message: &str,
    provider_reference: &str,
) -> Result<PaymentRecord> {
    payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(status.as_str()))
        .col_expr(payment::Column::FailureCode, Expr::value(failure_code))
        .col_expr(payment::Column::FailureMessage, Expr::value(failure_message))
        .col_expr(payment::Column::ProviderReference, Expr::value(provider_reference))
        .col_expr(payment::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(payment::Column::Id.eq(id))
        .exec(db)
        .await?;
    get(db, id).await?.ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("payment {id}")).into())
}

/// COMPLETED → REFUNDED; false if it was not COMPLETED (the UPDATE is also the row lock).
pub async fn mark_refunded(db: &impl ConnectionTrait, id: &str, refund_reference: &str, reason: &str) -> Result<bool> {
    let updated = payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(PaymentStatus::Refunded.as_str()))
        .col_expr(payment::Column::RefundReference, Expr::value(refund_reference))
        .col_expr(payment::Column::RefundReason, Expr::value(reason))
        .col_expr(payment::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(payment::Column::Id.eq(id))
        .filter(payment::Column::Status.eq(PaymentStatus::Completed.as_str()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<PaymentRecord>> {
    payment::Entity::find_by_id(id).one(db).await?.map(PaymentRecord::of).transpose()
}

pub async fn by_order(db: &impl ConnectionTrait, order_id: &str) -> Result<Option<PaymentRecord>> {
    payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order_id))
        .one(db)
        .await?
        .map(PaymentRecord::of)
        .transpose()
}

/// Which payments a listing covers.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Only this user's (`None`: everyone's, for admins).
    pub owner: Option<String>,
    /// Only this order's.
    pub order_id: Option<String>,
    /// Strictly older than this (created_at, id), newest first.
    pub before: Option<(DateTime<Utc>, String)>,
    pub limit: u64,
}

pub async fn list(db: &impl ConnectionTrait, listing: &Listing) -> Result<Vec<PaymentRecord>> {
    let mut query = payment::Entity::find();
    if let Some(owner) = &listing.owner {
        query = query.filter(payment::Column::UserId.eq(owner.as_str()));
    }
    if let Some(order_id) = &listing.order_id {
        query = query.filter(payment::Column::OrderId.eq(order_id.as_str()));
    }
    if let Some((created_at, id)) = &listing.before {
        query = query.filter(Condition::any().add(payment::Column::CreatedAt.lt(*created_at)).add(
            Condition::all().add(payment::Column::CreatedAt.eq(*created_at)).add(payment::Column::Id.lt(id.as_str())),
        ));
    }
    let rows = query
        .order_by_desc(payment::Column::CreatedAt)
        .order_by_desc(payment::Column::Id)
        .limit(listing.limit)
        .all(db)
        .await?;
    rows.into_iter().map(PaymentRecord::of).collect()
}
