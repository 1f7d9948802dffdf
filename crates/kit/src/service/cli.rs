//! The command line every service gets: the kit's common and database flags, the service's own
//! flags, and `serve` (the default), `migrate` and the service's own subcommands.

use std::ffi::OsString;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use super::Service;
use crate::{
    CommonArgs, CommonConfig, ConfigError, Problems,
    db::{DatabaseArgs, DatabaseConfig},
    events::{EventsArgs, EventsConfig, dlq::DlqCommand},
};

/// The parsed command line of a service with flags `A` and subcommands `C`.
#[derive(Debug, Clone, Parser)]
pub struct Cli<A: Args, C: Subcommand> {
    #[command(subcommand)]
    pub command: Option<Command<C>>,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub events: EventsArgs,

    #[command(flatten)]
    pub service: A,
}

/// The command line of service `S`.
pub type ServiceCli<S> = Cli<<S as Service>::Args, <S as Service>::Command>;

#[derive(Debug, Clone, Subcommand)]
pub enum Command<C: Subcommand> {
    /// Run the service (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Dead letters of this service's consumers: list, show, replay, purge.
    Dlq {
        #[command(subcommand)]
        action: DlqCommand,
    },
    #[command(flatten)]
    Service(C),
}

/// Validated configuration: the kit's parts and the service's own settings `S`.
#[derive(Debug, Clone)]
pub struct Config<S> {
    pub common: CommonConfig,
    pub database: DatabaseConfig,
    pub events: EventsConfig,
    pub service: S,
}

/// No subcommands beyond `serve` and `migrate`.
#[derive(Debug, Clone, Copy)]
pub enum NoCommand {}

impl FromArgMatches for NoCommand {
    fn from_arg_matches(_: &ArgMatches) -> Result<Self, clap::Error> {
        Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))
    }

    fn update_from_arg_matches(&mut self, _: &ArgMatches) -> Result<(), clap::Error> {
        match *self {}
    }
}

impl Subcommand for NoCommand {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        cmd
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        cmd
    }

    fn has_subcommand(_: &str) -> bool {
        false
    }
}

/// The clap command of service `S`, named and described as `S` says.
pub fn command<S: Service>() -> clap::Command {
    ServiceCli::<S>::command()
        .name(S::DEFAULTS.name)
        .bin_name(S::DEFAULTS.name)
        .version(S::DEFAULTS.version)
        .about(S::ABOUT)
}

/// Parses a command line (the binary's name first), as `main` and tests do.
pub fn parse<S: Service>(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<ServiceCli<S>, clap::Error> {
    let matches = command::<S>().try_get_matches_from(args)?;
    ServiceCli::<S>::from_arg_matches(&matches)
}

/// Every problem of the kit's flags and the service's own at once, or the configuration.
pub fn config<S: Service>(cli: &ServiceCli<S>) -> Result<Config<S::Settings>, ConfigError> {
    let mut problems = Problems::default();
    let common = cli.common.validate(S::DEFAULTS, &mut problems);
    let database = cli.database.validate(S::DEFAULTS.name, &mut problems);
    let events = cli.events.validate(&mut problems);
    let service = S::settings(&cli.service, &mut problems);
    let config = match (common, database, events, service) {
        (Some(common), Some(database), Some(events), Some(service)) => {
            Some(Config { common, database, events, service })
        }
        _ => None,
    };
    problems.finish(config)
}
