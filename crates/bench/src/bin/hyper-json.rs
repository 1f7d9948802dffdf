//! hyper-json: a bare hyper 1 HTTP/1.1 server answering every GET with a fixed GetProduct JSON
//! body, the REST ceiling for `bench`. Prints `listening <addr>` once bound; exits 0 on SIGTERM
//! or SIGINT.

use std::{io::Write, net::SocketAddr};

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

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
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    mercato_bench::hyper_json::serve(
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
