//! Validated values and the rules for them.

pub mod address;
pub mod credentials;
