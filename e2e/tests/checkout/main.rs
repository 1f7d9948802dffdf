//! The checkout saga across real processes: crashes mid-run, and the whole path through the
//! gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod crash;
mod gateway;
