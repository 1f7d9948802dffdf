//! Users.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entity::user;
use crate::error::{Error, Result};

pub async fn insert(
    db: &impl ConnectionTrait,
    email: &str,
    display_name: &str,
    password_hash: String,
    roles: &[&str],
) -> Result<user::Model> {
    let now = Utc::now();
    let row = user::Model {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.to_string(),
        display_name: display_name.to_string(),
        password_hash,
        roles: roles.join(","),
        created_at: now,
        updated_at: now,
    };
    user::Entity::insert(user::ActiveModel::from(row.clone()))
        .exec_without_returning(db)
        .await
        .map_err(|e| if mercato_kit::db::is_unique_violation(&e) { Error::EmailTaken } else { e.into() })?;
    Ok(row)
}

pub async fn by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<user::Model>> {
    Ok(user::Entity::find().filter(user::Column::Email.eq(email)).one(db).await?)
}

pub async fn by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

pub async fn set_display_name(db: &impl ConnectionTrait, id: &str, display_name: &str) -> Result<user::Model> {
    let mut row: user::ActiveModel = by_id(db, id).await?.ok_or_else(|| Error::NotFound("user", id.into()))?.into();
    row.display_name = Set(display_name.to_string());
    row.updated_at = Set(Utc::now());
    Ok(user::Entity::update(row).exec(db).await?)
}

/// Adds `role` if missing.
pub async fn grant_role(db: &impl ConnectionTrait, user: user::Model, role: &str) -> Result<user::Model> {
    let mut roles = user.role_list();
    if roles.iter().any(|r| r == role) {
        return Ok(user);
    }
    roles.push(role.to_string());
    let mut row: user::ActiveModel = user.into();
    row.roles = Set(roles.join(","));
    row.updated_at = Set(Utc::now());
    Ok(user::Entity::update(row).exec(db).await?)
}

/// Up to `limit` users with ids after `after` (all when `None`), in id order: a walk over every
/// user that new registrations cannot disturb.
pub async fn page_after(db: &impl ConnectionTrait, after: Option<&str>, limit: u64) -> Result<Vec<user::Model>> {
    let mut query = user::Entity::find();
    if let Some(after) = after {
        query = query.filter(user::Column::Id.gt(after));
    }
    Ok(query.order_by_asc(user::Column::Id).limit(limit).all(db).await?)
}
