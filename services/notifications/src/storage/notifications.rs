//! Notifications sent (or given up on). One row per (event, recipient): the row is written in
//! the consumer's transaction with the delivery, so a redelivered event finds it and sends
//! nothing.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entity::notification;

pub use notification::Model as NotificationRow;

/// Whether (event, user) already has its notification.
pub async fn exists(db: &impl ConnectionTrait, event_id: &str, user_id: &str) -> Result<bool, DbErr> {
    Ok(notification::Entity::find()
        .filter(notification::Column::EventId.eq(event_id))
        .filter(notification::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .is_some())
}

pub async fn insert(db: &impl ConnectionTrait, row: NotificationRow) -> Result<(), DbErr> {
    notification::Entity::insert(row.into_active_model().reset_all()).exec_without_returning(db).await?;
    Ok(())
}

/// Which notifications a listing covers.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub user_id: String,
    /// Only this order's.
    pub order_id: Option<String>,
    /// Strictly older than this (created_at, id), newest first.
    pub before: Option<(DateTime<Utc>, String)>,
    pub limit: u64,
}

pub async fn list(db: &impl ConnectionTrait, listing: &Listing) -> Result<Vec<NotificationRow>, DbErr> {
    let mut query = notification::Entity::find().filter(notification::Column::UserId.eq(listing.user_id.as_str()));
    if let Some(order_id) = &listing.order_id {
        query = query.filter(notification::Column::OrderId.eq(order_id.as_str()));
    }
    if let Some((created_at, id)) = &listing.before {
        query = query.filter(
            Condition::any().add(notification::Column::CreatedAt.lt(*created_at)).add(
                Condition::all()
                    .add(notification::Column::CreatedAt.eq(*created_at))
                    .add(notification::Column::Id.lt(id.as_str())),
            ),
        );
    }
    query
        .order_by_desc(notification::Column::CreatedAt)
        .order_by_desc(notification::Column::Id)
        .limit(listing.limit)
        .all(db)
        .await
}
