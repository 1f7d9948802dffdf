//! payments' storage: functions over the caller's connection or transaction.

pub mod entity;
pub mod payments;
