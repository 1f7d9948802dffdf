//! The identity binary: validated config (every problem listed, exit 78 before any port is
//! bound), logging, then the chosen command.

use std::process::ExitCode;

use clap::Parser;
use mercato_identity::{App, Cli, Command, Config, startup};
use mercato_kit::{Shutdown, process};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.clone().unwrap_or_default();
    process::main(
        "identity",
        cli.config(),
        |c: &Config| &c.common,
        |config| async move {
            match command {
                Command::Serve => App::build(config).await?.run_until_stopped(Shutdown::on_signals()).await,
                Command::Migrate => startup::migrate(&config).await,
                Command::CreateAdmin { email, display_name } => {
                    startup::create_admin(&config, &email, &display_name).await
                }
            }
        },
    )
}
