//! orders' storage: functions over the caller's connection or transaction.

pub mod carts;
pub mod entity;
pub mod orders;
