//! catalog owns products, categories, inventory and stock reservations.

pub mod cache;
pub mod commands;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod feed;
pub mod grpc;
pub mod migration;
pub mod startup;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;

pub use startup::{Catalog, Config};
