//! Contacts: the newest details identity published for each user. Events of one user arrive
//! in order (the stream is keyed per user), but a backfill republishes details that may be
//! older than a change already applied, so each row keeps the time its details were true and
//! an older event leaves a newer row alone.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};

use super::entity::contact;
use crate::domain::templates::Contact;

/// Stores `contact` for `user_id` as true at `as_of`; false when a newer one was kept.
pub async fn upsert(
    db: &impl ConnectionTrait,
    user_id: &str,
    details: &Contact,
    as_of: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    if contact::Entity::find_by_id(user_id).one(db).await?.is_none() {
        let row = contact::ActiveModel {
            user_id: Set(user_id.to_string()),
            email: Set(details.email.clone()),
            display_name: Set(details.display_name.clone()),
            as_of: Set(as_of),
            updated_at: Set(now),
        };
        // A concurrent first insert for the same user fails here and is retried by the
        // consumer, which then takes the update path.
        contact::Entity::insert(row).exec_without_returning(db).await?;
        return Ok(true);
    }
    let updated = contact::Entity::update_many()
        .col_expr(contact::Column::Email, Expr::value(details.email.clone()))
        .col_expr(contact::Column::DisplayName, Expr::value(details.display_name.clone()))
        .col_expr(contact::Column::AsOf, Expr::value(as_of))
        .col_expr(contact::Column::UpdatedAt, Expr::value(now))
        .filter(contact::Column::UserId.eq(user_id))
        .filter(contact::Column::AsOf.lte(as_of))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

pub async fn get(db: &impl ConnectionTrait, user_id: &str) -> Result<Option<Contact>, DbErr> {
    Ok(contact::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .map(|row| Contact { email: row.email, display_name: row.display_name }))
}
