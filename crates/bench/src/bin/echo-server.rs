//! echo-server: catalog's gRPC contract served by bare tonic, the throughput ceiling for
//! `bench`. Prints `listening <addr>` once bound; exits 0 on SIGTERM or SIGINT.

use std::net::SocketAddr;

use clap::Parser;

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
    let shutdown = mercato_bench::ceiling::on_signals()?;
    mercato_bench::echo::serve(args.addr, mercato_bench::ceiling::announce, shutdown).await
}
