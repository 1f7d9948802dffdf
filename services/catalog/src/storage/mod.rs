//! Repository functions. Each takes a connection or transaction; multi-row changes run in one
//! transaction.

pub mod entity;
pub mod products;
pub mod seed;
pub mod stock;
