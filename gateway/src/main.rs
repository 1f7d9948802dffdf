//! The gateway binary: validated config (every problem listed, exit 78 before any port is
//! bound), logging, then the edge until SIGTERM/SIGINT.

use std::process::ExitCode;

use clap::Parser;
use mercato_gateway::{App, Cli, Config};
use mercato_kit::{Shutdown, process, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match process::config_or_exit("gateway", cli.config()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let runtime = match process::runtime("gateway", config.common.worker_threads) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    telemetry::init(config.common.service, config.common.version, &config.common.log);
    let result = match App::build(config).await {
        Ok(app) => app.run_until_stopped(Shutdown::on_signals()).await,
        Err(e) => Err(e),
    };
    process::exit_code("gateway", result)
}
