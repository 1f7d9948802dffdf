//! payments' domain: ids, statuses and the values a charge needs, validated once at the edge.

pub mod decline;
pub mod payment;
pub mod token;
