//! hyper-json: a bare hyper 1 HTTP/1.1 server answering every GET with a fixed GetProduct JSON
//! body, the REST ceiling for `bench`. Prints `listening <addr>` once bound; exits 0 on SIGTERM
//! or SIGINT.

use std::net::SocketAddr;

use clap::Parser;

/// A bare hyper HTTP/1.1 server whose every GET returns a canned product as JSON.
#[derive(Debug, Parser)]
#[command(name = "hyper-json", version)]
struct Args {
    /// Listen address; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shutdown = mercato_bench::ceiling::on_signals()?;
    mercato_bench::hyper_json::serve(args.addr, mercato_bench::ceiling::announce, shutdown).await
}
