//! A user's shipping addresses. Every query is scoped by the owner's id, so another user's
//! address is indistinguishable from one that does not exist. Changes that read before they
//! write (the address limit, the single default) run inside the caller's write transaction.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};

use super::entity::address;
use crate::{
    domain::address::{MAX_ADDRESSES, NewAddress},
    error::{Error, Result},
};

pub async fn add(txn: &DatabaseTransaction, user_id: &str, new: NewAddress) -> Result<address::Model> {
    let count_before = address::Entity::find().filter(address::Column::UserId.eq(user_id)).count(txn).await?;
    if count_before >= MAX_ADDRESSES {
        return Err(Error::TooManyAddresses(MAX_ADDRESSES));
    }
    let is_default = new.make_default || count_before == 0;
    if is_default {
        clear_default(txn, user_id).await?;
    }
    let row = address::Model {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_string(),
        recipient_name: new.recipient_name,
        address_lines: serde_json::to_string(&new.lines).map_err(|e| Error::Internal(e.into()))?,
        city: new.city,
        region: new.region,
        postal_code: new.postal_code,
        country_code: new.country_code,
        phone: new.phone,
        is_default,
        created_at: Utc::now(),
    };
    address::Entity::insert(address::ActiveModel::from(row.clone())).exec_without_returning(txn).await?;
    Ok(row)
}

pub async fn list(db: &impl ConnectionTrait, user_id: &str) -> Result<Vec<address::Model>> {
    Ok(address::Entity::find()
        .filter(address::Column::UserId.eq(user_id))
        .order_by_desc(address::Column::IsDefault)
        .order_by_asc(address::Column::CreatedAt)
        .order_by_asc(address::Column::Id)
        .all(db)
        .await?)
}

/// Deletes; if it was the default, the oldest remaining address becomes the default.
pub async fn delete(txn: &DatabaseTransaction, user_id: &str, id: &str) -> Result<()> {
    let Some(existing) = address::Entity::find_by_id(id).filter(address::Column::UserId.eq(user_id)).one(txn).await?
    else {
        return Err(Error::NotFound("address", id.to_string()));
    };
    address::Entity::delete_by_id(id).exec(txn).await?;
    if existing.is_default
        && let Some(next) = address::Entity::find()
            .filter(address::Column::UserId.eq(user_id))
            .order_by_asc(address::Column::CreatedAt)
            .one(txn)
            .await?
    {
        set_flag(txn, &next.id, true).await?;
    }
    Ok(())
}

pub async fn set_default(txn: &DatabaseTransaction, user_id: &str, id: &str) -> Result<address::Model> {
    let Some(existing) = address::Entity::find_by_id(id).filter(address::Column::UserId.eq(user_id)).one(txn).await?
    else {
        return Err(Error::NotFound("address", id.to_string()));
    };
    clear_default(txn, user_id).await?;
    set_flag(txn, id, true).await?;
    Ok(address::Model { is_default: true, ..existing })
}

async fn clear_default(db: &impl ConnectionTrait, user_id: &str) -> Result<()> {
    address::Entity::update_many()
        .col_expr(address::Column::IsDefault, Expr::value(false))
        .filter(address::Column::UserId.eq(user_id))
        .filter(address::Column::IsDefault.eq(true))
        .exec(db)
        .await?;
    Ok(())
}

async fn set_flag(db: &impl ConnectionTrait, id: &str, value: bool) -> Result<()> {
    address::Entity::update_many()
        .col_expr(address::Column::IsDefault, Expr::value(value))
        .filter(address::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
