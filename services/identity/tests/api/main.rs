//! identity's integration tests: the real service on loopback against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod addresses;
mod events;
mod keys;
mod service_tokens;
mod sessions;
mod tokens;
