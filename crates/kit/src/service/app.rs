//! Building a service (database, migrations, listeners, the service's own parts) separately
//! from running it, so tests get the real thing on port 0 without copying start-up code.

use std::{net::SocketAddr, process::ExitCode};

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

use super::{Command, Config, Service, cli};
use crate::{
    Server, Shutdown,
    db::{self, DatabaseConfig, DatabaseReady},
    events::{Broker, Events, dlq},
    metrics, process,
};

/// What a service's `build` gets: its configuration, its migrated database, its bound server
/// and, when it declares a stream, its events.
#[derive(Debug)]
pub struct Setup<'a, S> {
    pub config: &'a Config<S>,
    pub db: &'a DatabaseConnection,
    pub server: &'a mut Server,
    pub events: Option<&'a Events>,
}

/// A built service: migrated database, bound listeners, not yet serving.
#[derive(Debug)]
pub struct App {
    server: Server,
    db: DatabaseConnection,
}

impl App {
    /// Connects and migrates the database, binds both listeners and lets `S` add its parts.
    pub async fn build<S: Service>(config: Config<S::Settings>) -> anyhow::Result<Self> {
        let db = connect_and_migrate::<S::Migrator>(&config.database).await?;
        let mut server = Server::bind(&config.common).await?;
        server.readiness().add(DatabaseReady(db.clone()));
        metrics::pool::register(server.metrics().registry(), &db);
        let events = match S::STREAM {
            Some(stream) => {
                let common = &config.common;
                let broker =
                    Broker::connect(&common.nats, config.events.clone(), common.service, common.version).await?;
                server.readiness().add(broker.readiness());
                let events = Events::new(broker, db.clone(), server.metrics().registry(), vec![stream]);
                // Consumer lag and dead letters, asked of JetStream when /metrics is scraped.
                server.metrics().add_sampler(events.clone());
                let relay = events.relay();
                server.workers().add("outbox-relay", move |stop| relay.run(stop));
                Some(events)
            }
            None => None,
        };
        S::build(Setup { config: &config, db: &db, server: &mut server, events: events.as_ref() }).await?;
        Ok(Self { server, db })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.server.admin_addr()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until `shutdown`, drains (calls, then workers), then closes the pool.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let served = self.server.run(shutdown).await;
        let closed = self.db.close().await.context("closing the database pool");
        tracing::info!("stopped");
        served.and(closed)
    }
}

/// Opens the pool and runs every pending migration of `M`.
pub async fn connect_and_migrate<M: MigratorTrait>(config: &DatabaseConfig) -> anyhow::Result<DatabaseConnection> {
    // DbErr's message already holds sqlx's, which is also its source: as context, the chain
    // would print the same sentence twice.
    let db = db::connect(config).await.map_err(|e| anyhow::anyhow!("connecting to the database: {e}"))?;
    db::migrate::<M>(&db).await.context("running migrations")?;
    Ok(db)
}

/// The whole `main` of service `S`: parse and validate (every problem listed, exit 78 before
/// any port is bound), then serve, migrate or run one of the service's own subcommands.
pub fn main<S: Service>() -> ExitCode {
    let cli = match cli::parse::<S>(std::env::args_os()) {
        Ok(cli) => cli,
        // --help, --version and usage errors print and exit as clap decides.
        Err(e) => e.exit(),
    };
    let command = cli.command.clone().unwrap_or(Command::Serve);
    // What `dlq` prints is its output; its logs go to stderr so that output stays parsable.
    let to_stderr = matches!(command, Command::Dlq { .. });
    let config = cli::config::<S>(&cli).map(|mut config| {
        config.common.log.to_stderr = to_stderr;
        config
    });
    process::main(
        S::DEFAULTS.name,
        config,
        |config: &Config<S::Settings>| &config.common,
        |config| async move {
            match command {
                Command::Serve => App::build::<S>(config).await?.run_until_stopped(Shutdown::on_signals()).await,
                Command::Migrate => {
                    connect_and_migrate::<S::Migrator>(&config.database).await?.close().await?;
                    Ok(())
                }
                Command::Dlq { action } => {
                    let common = &config.common;
                    let broker =
                        Broker::connect(&common.nats, config.events.clone(), common.service, common.version).await?;
                    // Written out at the end: holding stdout while awaiting NATS would block
                    // the client's own log lines, and with them the replies awaited.
                    let mut out = Vec::new();
                    let outcome = dlq::run(action, &broker, &mut out).await;
                    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
                    outcome
                }
                Command::Service(own) => {
                    let db = connect_and_migrate::<S::Migrator>(&config.database).await?;
                    let outcome = S::run_command(own, &config, &db).await;
                    db.close().await.context("closing the database pool")?;
                    outcome
                }
            }
        },
    )
}
