//! shipping's gRPC API.

pub mod convert;
pub mod shipping;
