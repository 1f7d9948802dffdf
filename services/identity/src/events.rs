//! What identity publishes, through the outbox, in the transaction of the change: a user's
//! registration and every change of their contact details, so other services (notifications)
//! keep their own copy instead of calling identity.

use mercato::identity::v1 as pb;
use mercato_kit::{events::Outbox, time::timestamp};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::{
    error::{Error, Result},
    storage::{entity::user, users},
};

/// The stream identity publishes into.
pub const STREAM: &str = "IDENTITY";

pub async fn registered(outbox: &Outbox, txn: &DatabaseTransaction, user: &user::Model) -> Result<()> {
    let event = pb::UserRegistered {
        user_id: user.id.clone(),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        roles: user.role_list(),
        occurred_at: Some(timestamp(user.created_at)),
    };
    outbox.publish(txn, &event).await?;
    Ok(())
}

pub async fn profile_changed(
    outbox: &Outbox,
    txn: &DatabaseTransaction,
    user: &user::Model,
    republished: bool,
) -> Result<()> {
    let event = pb::UserProfileChanged {
        user_id: user.id.clone(),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        republished,
        occurred_at: Some(timestamp(chrono::Utc::now())),
    };
    outbox.publish(txn, &event).await?;
    Ok(())
}

/// Appends every user's UserProfileChanged (republished) to the outbox, `batch` users per
/// transaction; returns how many.
pub async fn republish_users(db: &DatabaseConnection, outbox: &Outbox, batch: u64) -> Result<u64> {
    let mut after: Option<String> = None;
    let mut count = 0;
    loop {
        let txn = mercato_kit::db::begin_write(db).await.map_err(Error::from)?;
        let page = users::page_after(&txn, after.as_deref(), batch).await?;
        for user in &page {
            profile_changed(outbox, &txn, user, true).await?;
        }
        outbox.commit(txn).await.map_err(Error::from)?;
        count += page.len() as u64;
        match page.last() {
            Some(last) if page.len() as u64 == batch => after = Some(last.id.clone()),
            _ => return Ok(count),
        }
    }
}
