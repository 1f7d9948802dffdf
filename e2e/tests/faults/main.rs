//! Faults an operator meets, injected into real processes by signals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod crash;
mod hang;
mod shed;
