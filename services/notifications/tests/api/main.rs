//! notifications' integration tests against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod events;
mod list;
mod smtp;
mod storage;
