//! Benchmarks catalog as a real process against a bare tonic echo server (the throughput ceiling),
//! and the gateway's REST edge against a bare hyper server (hyper-json) and direct gRPC.

pub mod catalog;
pub mod ceiling;
pub mod checkout;
pub mod cli;
pub mod cpu;
pub mod db;
pub mod echo;
pub mod edge;
pub mod events;
pub mod fetch;
pub mod gateway;
pub mod health;
pub mod hyper_json;
pub mod load;
pub mod overload;
pub mod procs;
pub mod reads;
pub mod report;
pub mod run;
pub mod startup;
pub mod wrk;
