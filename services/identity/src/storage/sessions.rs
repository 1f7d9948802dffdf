//! Refresh-token families. A login starts a family; each refresh marks the presented token used
//! and adds its successor. Presenting a used token again means it was stolen (or replayed): the
//! whole family is revoked, logging out both the thief and the victim.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, sea_query::Expr};

use super::entity::{refresh_token, user};
use crate::{
    crypto::refresh,
    error::{Error, Result},
};

/// A freshly issued refresh token (plaintext, shown once).
pub struct Issued {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Starts a new family for `user_id`.
pub async fn start(db: &DatabaseConnection, user_id: &str, ttl: chrono::Duration) -> Result<Issued> {
    let family = uuid::Uuid::now_v7().to_string();
    issue(db, &family, user_id, ttl).await
}

async fn issue(
    db: &impl sea_orm::ConnectionTrait,
    family: &str,
    user_id: &str,
    ttl: chrono::Duration,
) -> Result<Issued> {
    let token = refresh::generate()?;
    let now = Utc::now();
    let expires_at = now + ttl;
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        family_id: Set(family.to_string()),
        user_id: Set(user_id.to_string()),
        token_hash: Set(refresh::digest(&token)),
        expires_at: Set(expires_at),
        created_at: Set(now),
        used_at: Set(None),
        revoked_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(Issued { token, expires_at })
}

/// Exchanges `token` for its successor and returns the user it belongs to.
pub async fn rotate(db: &DatabaseConnection, token: &str, ttl: chrono::Duration) -> Result<(user::Model, Issued)> {
    let txn = mercato_kit::db::begin_write(db).await?;
    let now = Utc::now();
    let Some(row) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(refresh::digest(token)))
        .one(&txn)
        .await?
    else {
        return Err(Error::BadRefreshToken);
    };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Err(Error::BadRefreshToken);
    }
    // Conditional: of two concurrent uses of one token, exactly one wins; the other is reuse.
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(row.id.as_str()))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        txn.rollback().await?;
        revoke_family(db, &row.family_id).await?;
        tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, "refresh token reuse: family revoked");
        return Err(Error::RefreshReuse);
    }
    let user = super::users::by_id(&txn, &row.user_id).await?.ok_or(Error::BadRefreshToken)?;
    let issued = issue(&txn, &row.family_id, &row.user_id, ttl).await?;
    txn.commit().await?;
    Ok((user, issued))
}

async fn revoke_family(db: &DatabaseConnection, family: &str) -> Result<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
