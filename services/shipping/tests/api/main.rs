//! shipping's integration tests against SQLite and PostgreSQL: the real service on a real
//! nats-server, fed orders' events as orders' relay publishes them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod lifecycle;
mod reads;
