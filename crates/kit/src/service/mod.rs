//! The service skeleton. A service declares what is its own — name and ports, extra flags and
//! subcommands, migrations, and the gRPC services and workers it adds — by implementing
//! [`Service`]; the kit supplies the command line (`serve`, `migrate` and the service's own
//! subcommands), validated configuration, opening and migrating the database, readiness, and
//! the run-and-close sequence. A service's `main` is `mercato_kit::service::main::<Catalog>()`.

mod app;
mod cli;
#[cfg(test)]
mod tests;

use std::{fmt, future::Future};

use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

pub use self::{
    app::{App, Setup, connect_and_migrate, main},
    cli::{Cli, Command, Config, NoCommand, ServiceCli, command, config, parse},
};
use crate::{
    config::{Problems, ServiceDefaults},
    events::StreamSpec,
};

/// What one service is. See the module docs.
pub trait Service: Sized + 'static {
    /// Name (the SQLite file, the `service` field of every log line), version and default ports.
    const DEFAULTS: ServiceDefaults;
    /// The first line of `--help`: what the service owns.
    const ABOUT: &'static str;

    /// Flags of this service beyond the kit's common and database flags.
    type Args: clap::Args + Clone + fmt::Debug + Send + Sync + 'static;
    /// Subcommands beyond `serve` and `migrate` ([`NoCommand`] if none).
    type Command: clap::Subcommand + Clone + fmt::Debug + Send + 'static;
    /// What [`Service::Args`] validate into.
    type Settings: Clone + fmt::Debug + Send + Sync + 'static;
    /// The service's schema.
    type Migrator: MigratorTrait;

    /// The stream this service publishes into (`CATALOG` on `catalog.v1.>`). With one, the
    /// service connects to NATS (and /readyz checks it), provisions the stream and the
    /// dead-letter stream, and runs the outbox relay; `Setup::events` is then set.
    const STREAM: Option<StreamSpec> = None;

    /// Validates this service's flags, recording every problem next to the kit's own.
    fn settings(args: &Self::Args, problems: &mut Problems) -> Option<Self::Settings>;

    /// Adds the gRPC services, admin routes, readiness checks and workers to a bound server
    /// whose database is connected and migrated.
    fn build(setup: Setup<'_, Self::Settings>) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Runs one of the service's own subcommands against its migrated database.
    fn run_command(
        command: Self::Command,
        config: &Config<Self::Settings>,
        db: &DatabaseConnection,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}
