//! orders' domain, without I/O.

pub mod cart;
pub mod saga;
