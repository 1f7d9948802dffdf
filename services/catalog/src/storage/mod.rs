//! Repository functions. Each takes a connection or transaction; multi-row changes run in one
//! transaction.

pub mod entity;
pub mod products;
pub mod seed;
pub mod stock;

use sea_orm::{DbErr, SqlErr};

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
