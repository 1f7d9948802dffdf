//! The edge gateway: one port through which browsers, curl, mobile apps and generated clients
//! reach the mesh — REST/JSON transcoded from the contracts' `google.api.http` annotations,
//! grpc-web, and native gRPC passed through — behind authentication, rate limits, CORS, body
//! and header limits, deadlines and request ids.

pub mod aggregate;
pub mod config;
pub mod home;
pub mod mesh;
pub mod openapi;
pub mod policy;
pub mod proxy;
pub mod rest;
pub mod sse;
pub mod startup;
pub mod transcode;
pub mod unary;
pub mod upstream;

pub use config::{Cli, Config};
pub use startup::App;
