//! identity's gRPC services.

pub mod convert;
pub mod identity;
pub mod internal;
