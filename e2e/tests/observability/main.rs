//! What deploy/observability ships, checked by the tools that will run it: promtool over the
//! scrape configs and rules (and the rules' unit tests), the structure of the Collector config
//! and the Grafana dashboard, then a real Prometheus with the shipped config scraping a whole
//! shop through a checkout, with every expression of the rules and the dashboard asked of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod collector;
mod dashboard;
mod exprs;
mod promtool;
mod receiver;
mod shopper;
mod stack;
mod traces;
