//! echo-server: catalog's gRPC contract served by bare tonic, the throughput ceiling for
//! `bench`. Prints `listening <addr>` once bound; exits 0 on SIGTERM or SIGINT.

use std::{io::Write, net::SocketAddr};

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

/// A bare tonic CatalogService whose GetProduct returns a canned product.
#[derive(Debug, Parser)]
#[command(name = "echo-server", version)]
struct Args {
    /// Listen address; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    mercato_bench::echo::serve(
        args.addr,
        |bound| {
            let mut stdout = std::io::stdout().lock();
            // The parent reads this line to learn the port; a closed pipe is not our problem.
            let _ = writeln!(stdout, "listening {bound}");
            let _ = stdout.flush();
        },
        shutdown,
    )
    .await
}
