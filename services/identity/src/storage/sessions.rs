//! Refresh-token families. A login starts a family; each refresh marks the presented token used
//! and adds its successor. Presenting a used token again means it was stolen (or replayed): the
//! whole family is revoked, logging out both the thief and the victim.

use std::fmt;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, sea_query::Expr,
};

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

/// The token is a live credential: never shown.
impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued").field("token", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

/// What presenting a refresh token led to.
pub enum Rotation {
    /// The token was current: here is its successor and the user it belongs to.
    Rotated(user::Model, Issued),
    /// The token had been used already: the caller must roll back and revoke `family_id`.
    Reused { family_id: String, user_id: String },
}

/// Of the user only the id: the row's Debug shows the email and the password hash.
impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rotated(user, issued) => {
                f.debug_struct("Rotated").field("user_id", &user.id).field("issued", issued).finish_non_exhaustive()
            }
            Self::Reused { family_id, user_id } => {
                f.debug_struct("Reused").field("family_id", family_id).field("user_id", user_id).finish()
            }
        }
    }
}

/// Starts a new family for `user_id`.
pub async fn start(db: &impl ConnectionTrait, user_id: &str, ttl: chrono::Duration) -> Result<Issued> {
    let family = uuid::Uuid::now_v7().to_string();
    issue(db, &family, user_id, ttl).await
}

async fn issue(db: &impl ConnectionTrait, family: &str, user_id: &str, ttl: chrono::Duration) -> Result<Issued> {
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

/// Exchanges `token` for its successor inside the caller's write transaction.
pub async fn rotate(txn: &DatabaseTransaction, token: &str, ttl: chrono::Duration) -> Result<Rotation> {
    let now = Utc::now();
    let Some(row) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(refresh::digest(token)))
        .one(txn)
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
        .exec(txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(Rotation::Reused { family_id: row.family_id, user_id: row.user_id });
    }
    let user = super::users::by_id(txn, &row.user_id).await?.ok_or(Error::BadRefreshToken)?;
    let issued = issue(txn, &row.family_id, &row.user_id, ttl).await?;
    Ok(Rotation::Rotated(user, issued))
}

/// Revokes every token of a family (after reuse was detected).
pub async fn revoke_family(db: &impl ConnectionTrait, family: &str) -> Result<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
