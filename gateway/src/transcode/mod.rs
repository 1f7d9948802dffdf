//! REST ⇄ gRPC transcoding driven by the descriptor set: the `google.api.http` annotations give
//! the routes, the proto3 JSON mapping gives the bodies, and gRPC statuses become HTTP errors the
//! way grpc-gateway renders them.
//!
//! The flow of one call: [`RouteTable::find`] → [`build_request`] → call upstream with
//! [`DynamicCodec`] → [`response_json`], or [`http_status`] + [`error_json`] on failure.

mod codec;
mod error;
mod fields;
pub mod idempotency;
mod json;
mod query;
mod request;
mod routes;
mod rule;
mod scalar;
mod status;
mod template;
#[cfg(test)]
pub(crate) mod testing;

pub use codec::{DynamicCodec, DynamicDecoder, DynamicEncoder};
pub use error::TranscodeError;
pub use json::response_json;
pub use request::build_request;
pub use routes::{BodyMapping, Match, Route, RouteMatch, RouteTable, Routed, grpc_path};
pub use status::{error_json, http_status};
pub use template::{PathTemplate, TemplateError};
