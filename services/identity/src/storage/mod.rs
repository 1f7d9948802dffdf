//! Repository functions over identity's tables.

pub mod addresses;
pub mod entity;
pub mod sessions;
pub mod users;

use sea_orm::{DbErr, SqlErr};

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
