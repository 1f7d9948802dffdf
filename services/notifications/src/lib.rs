//! mercato notifications: purely event-driven. It keeps its own copy of each user's contact
//! details from identity's events and renders a message for each event a customer should hear
//! about (order placed, payment receipt or decline, cancellation, shipment), delivered through
//! a sink port. This crate holds the rendering, the sinks and the storage so far; the
//! consumers and the read API follow.

pub mod domain;
pub mod migration;
pub mod sink;
pub mod storage;
