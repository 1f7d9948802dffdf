//! The events backbone against a real nats-server (started per test on a free port with a
//! temporary store) and real databases: SQLite files and fresh PostgreSQL databases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod consumers;
mod dlq;
mod feed;
mod locks;
mod outbox;
mod process;
mod scrape;
