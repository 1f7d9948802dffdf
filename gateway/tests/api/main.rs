//! The gateway in front of real identity and catalog services, all on loopback ports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod connections;
mod edge;
mod grpc;
mod rest;
