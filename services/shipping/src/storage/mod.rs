//! shipping's storage: the shipments table.

pub mod entity;
pub mod shipments;
