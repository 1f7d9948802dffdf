//! payments' gRPC API: reading payments (the saga's commands arrive as events, not RPCs).

pub mod convert;
pub mod payments;
