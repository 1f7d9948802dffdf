//! The gateway binary: validated config (every problem listed, exit 78 before any port is
//! bound), logging, then the edge until SIGTERM/SIGINT.

use std::process::ExitCode;

use clap::Parser;
use mercato_gateway::{App, Cli, Config};
use mercato_kit::{Shutdown, process};

fn main() -> ExitCode {
    let cli = Cli::parse();
    process::main(
        "gateway",
        cli.config(),
        |c: &Config| &c.common,
        |config| async move { App::build(config).await?.run_until_stopped(Shutdown::on_signals()).await },
    )
}
