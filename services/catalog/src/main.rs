//! The catalog binary: parse and validate config (every problem listed, exit 78 before any
//! port is bound), set up logging, then run the chosen command.

use std::process::ExitCode;

use clap::Parser;
use mercato_catalog::{App, Cli, Command, Config, startup};
use mercato_kit::{Shutdown, process, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match process::config_or_exit("catalog", cli.config()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let runtime = match process::runtime("catalog", config.common.worker_threads) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(run(cli, config))
}

async fn run(cli: Cli, config: Config) -> ExitCode {
    telemetry::init(config.common.service, config.common.version, &config.common.log);

    let result = match cli.command.clone().unwrap_or_default() {
        Command::Serve => match App::build(config).await {
            Ok(app) => app.run_until_stopped(Shutdown::on_signals()).await,
            Err(e) => Err(e),
        },
        Command::Migrate => startup::migrate(&config).await,
        Command::Seed { file } => startup::seed(&config, file.as_deref()).await,
    };
    process::exit_code("catalog", result)
}
