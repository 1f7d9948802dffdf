//! orders owns carts, orders and the checkout saga: it is the saga's orchestrator, the one
//! place that knows the steps (reserve stock → charge the payment → commit stock) and their
//! compensations. Catalog and payments only answer commands.
//!
//! - [`domain`]: the cart's rules, the order's input rules and the saga's state machine, no I/O.
//! - [`saga`]: the orchestrator around the state machine — reply consumers, durable
//!   deadlines, and the one function ([`saga::advance`]) that moves an order in a transaction.
//! - [`grpc`]: CartService and OrderService.
//! - [`metrics`]: the business counters, counted once what they count has committed.

pub mod catalog;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod metrics;
pub mod migration;
pub mod saga;
pub mod startup;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod watch;

pub use startup::{Config, Orders};
