//! mercato notifications: purely event-driven. It keeps its own copy of each user's contact
//! details from identity's events and renders a message for each event a customer should hear
//! about (order placed, payment receipt or decline, cancellation, shipment), delivered through
//! a sink port.

pub mod config;
pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod metrics;
pub mod migration;
pub mod sink;
pub mod startup;
pub mod storage;

pub use startup::Notifications;
