//! payments owns payments and refunds, and the port to the payment provider (the
//! anti-corruption layer and PCI boundary: card tokens and provider references stop here).

pub mod commands;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod metrics;
pub mod migration;
pub mod provider;
pub mod startup;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;

pub use startup::{Config, Payments};
