//! orders' domain, without I/O.

pub mod cart;
pub mod order;
pub mod saga;
