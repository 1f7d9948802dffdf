//! orders' API and checkout saga against real services: identity for tokens, catalog and
//! payments answering the saga's commands, one nats-server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cart;
mod checkout;
mod faults;
mod helpers;
mod reads;
