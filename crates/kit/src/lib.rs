//! mercato-kit: the runtime every mercato binary shares — config, telemetry, the gRPC server
//! with health/reflection/request ids/RED metrics, the admin HTTP listener, graceful shutdown,
//! the database, and the mapping of domain errors to gRPC statuses.

pub mod admin;
pub mod auth;
pub mod backoff;
pub mod card_token;
pub mod client;
pub mod config;
pub mod conn;
pub mod db;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod lifecycle;
pub mod log_budget;
pub mod metrics;
pub mod money;
pub mod nats;
pub mod net;
pub mod page;
pub mod process;
pub mod reflection;
pub mod request_id;
pub mod secret;
pub mod server;
pub mod service;
pub mod shed;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod trace;
pub mod worker;

pub use config::{CommonArgs, CommonConfig, ConfigError, Problems};
pub use secret::Secret;
pub use server::Server;
pub use shutdown::Shutdown;
