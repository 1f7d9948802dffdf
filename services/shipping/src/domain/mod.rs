//! shipping's domain: a shipment's lifecycle, what it carries, and which carrier takes it.

pub mod carriers;
pub mod shipment;
