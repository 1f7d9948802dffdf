//! identity owns users, credentials, refresh-token sessions, addresses and the keys that sign
//! access tokens.

pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod migration;
pub mod startup;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;

pub use startup::{Config, Identity};
