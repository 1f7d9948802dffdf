//! The gateway binary: validated config (every problem listed, exit 78 before any port is
//! bound), logging, then the edge until SIGTERM/SIGINT.

use std::process::ExitCode;

use clap::Parser;
use mercato_gateway::{App, Cli};
use mercato_kit::{Shutdown, process, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match process::config_or_exit("gateway", cli.config()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    telemetry::init(config.common.service, config.common.version, &config.common.log);
    let result = match App::build(config).await {
        Ok(app) => app.run_until_stopped(Shutdown::on_signals()).await,
        Err(e) => Err(e),
    };
    process::exit_code("gateway", result)
}
