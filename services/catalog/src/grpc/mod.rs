//! The gRPC face of catalog: `convert` parses requests into domain values (field violations for
//! anything wrong), the services call storage and map errors through `crate::error`.

pub mod catalog;
pub mod convert;
pub mod stock;
