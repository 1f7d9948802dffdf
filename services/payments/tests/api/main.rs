//! payments' integration tests: the real service on loopback ports against real SQLite files
//! and fresh PostgreSQL databases, its commands over a real nats-server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod commands;
mod reads;
