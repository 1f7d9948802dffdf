//! What the two ceiling servers (echo-server, hyper-json) share: how they stop and how they
//! tell the parent which port they bound.

use std::{io::Write, net::SocketAddr};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

/// Resolves on the first SIGTERM or SIGINT.
pub fn on_signals() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Prints `listening <addr>`, the line the parent reads to learn the port.
pub fn announce(bound: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe is not this server's problem.
    let _ = writeln!(stdout, "listening {bound}");
    let _ = stdout.flush();
}
