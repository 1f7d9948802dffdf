//! catalog's command line: the kit's common flags plus catalog's own.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mercato_kit::{
    CommonArgs, CommonConfig, ConfigError, Problems,
    config::ServiceDefaults,
    db::{DatabaseArgs, DatabaseConfig},
};

pub const DEFAULTS: ServiceDefaults =
    ServiceDefaults { name: "catalog", version: env!("CARGO_PKG_VERSION"), grpc_port: 50052, admin_port: 9082 };

/// mercato catalog: products, categories, inventory and stock reservations.
#[derive(Debug, Parser)]
#[command(name = "catalog", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Load the bundled seed catalog at start-up (only rows that are missing).
    #[arg(long, env = "SEED_ON_START")]
    pub seed_on_start: bool,
}

#[derive(Debug, Clone, Subcommand, Default)]
pub enum Command {
    /// Run the service (the default).
    #[default]
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Apply migrations and load a seed catalog (the bundled one unless --file), then exit.
    Seed {
        /// A seed file in the format of services/catalog/seed/catalog.json.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub database: DatabaseConfig,
    pub seed_on_start: bool,
}

impl Cli {
    /// Every problem at once, or the configuration.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut problems = Problems::default();
        let common = self.common.validate(DEFAULTS, &mut problems);
        let database = self.database.validate(DEFAULTS.name, &mut problems);
        problems.finish(common.zip(database).map(|(common, database)| Config {
            common,
            database,
            seed_on_start: self.seed_on_start,
        }))
    }
}
