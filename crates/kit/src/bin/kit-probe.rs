//! `kit-probe`: the smallest service on the kit's skeleton that consumes events, for the kit's
//! process-level tests (a real SIGTERM while its consumer has messages in flight). It consumes
//! `probe.v1.probed` from its own stream and records each as a row of `effects`, taking
//! `--handler-delay` over each. Not deployed; no service depends on it.

use std::{process::ExitCode, time::Duration};

use mercato_kit::{
    config::{Problems, ServiceDefaults, parse_duration},
    events::{Delivery, Event, Handler, HandlerError, StreamSpec},
    service::{self, NoCommand, Service, Setup},
};
use sea_orm::DatabaseConnection;

/// The event the probe consumes.
#[derive(Clone, PartialEq, prost::Message)]
struct Probed {
    #[prost(int64, tag = "1")]
    n: i64,
}

impl Event for Probed {
    const SUBJECT: &'static str = "probe.v1.probed";
    const TYPE: &'static str = "mercato.probe.v1.Probed";
    fn aggregate(&self) -> String {
        self.n.to_string()
    }
}

#[derive(Debug, Clone, clap::Args)]
struct ProbeArgs {
    /// How long handling each event takes.
    #[arg(long, env = "PROBE_HANDLER_DELAY", default_value = "0s")]
    handler_delay: String,
}

use mercato_kit::testing::effects::{self, m0001_effects};

mercato_kit::migrator!(m0001_effects);

/// Records each event, slowly if told to.
struct Record {
    delay: Duration,
}

impl Handler<Probed> for Record {
    async fn handle(&self, event: Probed, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        // Tests count these lines: a message counts as in flight once its handler has begun.
        tracing::info!(n = event.n, "probe handling");
        tokio::time::sleep(self.delay).await;
        effects::record(delivery.txn, delivery.event_id, event.n).await?;
        Ok(())
    }
}

#[derive(Debug)]
struct Probe;

impl Service for Probe {
    const DEFAULTS: ServiceDefaults =
        ServiceDefaults { name: "probe", version: env!("CARGO_PKG_VERSION"), grpc_port: 50099, admin_port: 9099 };
    const ABOUT: &'static str = "mercato kit probe: a consumer for the kit's process-level tests.";
    const STREAM: Option<StreamSpec> = Some(StreamSpec { name: "PROBE", subjects: &["probe.v1.>"] });
    type Args = ProbeArgs;
    type Command = NoCommand;
    type Settings = Duration;
    type Migrator = Migrator;

    fn settings(args: &ProbeArgs, problems: &mut Problems) -> Option<Duration> {
        problems.check("PROBE_HANDLER_DELAY (--handler-delay)", parse_duration(&args.handler_delay))
    }

    async fn build(setup: Setup<'_, Duration>) -> anyhow::Result<()> {
        let Setup { config, server, events, .. } = setup;
        let events = events.ok_or_else(|| anyhow::anyhow!("the probe declares a stream, so it has events"))?;
        server
            .workers()
            .add("effects", events.consumer::<Probed, _>("effects", "PROBE", Record { delay: config.service }));
        Ok(())
    }

    async fn run_command(
        command: NoCommand,
        _: &service::Config<Duration>,
        _: &DatabaseConnection,
    ) -> anyhow::Result<()> {
        match command {}
    }
}

fn main() -> ExitCode {
    service::main::<Probe>()
}
