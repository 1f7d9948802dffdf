//! orders' domain, without I/O.

pub mod saga;
