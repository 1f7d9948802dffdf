//! catalog's integration tests: the real service on loopback ports against real SQLite files
//! and fresh PostgreSQL databases; lifecycle tests run the real binary as a process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod auth;
mod commands;
mod events;
mod hangup;
mod health;
mod lifecycle;
mod products;
mod stock;
mod validation;
