//! Benchmarks catalog as a real process against a bare tonic echo server (the throughput ceiling).

pub mod catalog;
pub mod cli;
pub mod db;
pub mod echo;
pub mod health;
pub mod load;
pub mod procs;
pub mod report;
pub mod run;
pub mod startup;
