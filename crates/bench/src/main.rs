//! bench: measures catalog's start-up, memory, throughput and latency against a bare tonic
//! echo server, and the gateway's REST GetProduct against a bare hyper server. See `bench --help`.

use std::process::ExitCode;

use clap::Parser;
use mercato_bench::{cli::Args, run};

#[tokio::main]
async fn main() -> ExitCode {
    match run::run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
