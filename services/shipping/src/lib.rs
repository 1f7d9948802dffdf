//! mercato shipping: purely event-driven. An order confirmed becomes one shipment (carrier,
//! tracking number, the order's address and lines), which moves on by itself on durable
//! due-times: dispatched after the dispatch delay, delivered after the delivery delay, each
//! announced by an event. An order cancelled before its shipment left cancels it.

pub mod config;
pub mod consumers;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod metrics;
pub mod migration;
pub mod startup;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timer;

pub use startup::{Config, Shipping};
