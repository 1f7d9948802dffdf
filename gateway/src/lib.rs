//! The edge gateway: one port through which browsers, curl, mobile apps and generated clients
//! reach the mesh — REST/JSON transcoded from the contracts' `google.api.http` annotations,
//! grpc-web, and native gRPC passed through.

pub mod transcode;
