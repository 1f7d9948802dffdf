//! Validated values and pure rules. Nothing past `grpc::convert` sees an unchecked string.

pub mod page;
pub mod product;
pub mod stock;
