//! What payments adds to the kit's service skeleton: the saga's command consumers around the
//! provider port, and the read API.

use std::sync::Arc;

use anyhow::Context;
use mercato::payments::v1::{self as pb, payment_service_server::PaymentServiceServer};
use mercato_kit::{
    config::{Problems, ServiceDefaults},
    events::StreamSpec,
    service::{self, NoCommand, Service, Setup},
};
use sea_orm::DatabaseConnection;

use crate::{
    commands::{ChargeHandler, RefundHandler},
    config::{PaymentsArgs, Settings},
    events,
    grpc::payments::PaymentApi,
    metrics::PaymentMetrics,
    migration::Migrator,
    provider::{Calls, test::TestProvider},
};

/// The payments service.
#[derive(Debug)]
pub struct Payments;

/// payments' configuration.
pub type Config = service::Config<Settings>;

impl Service for Payments {
    const DEFAULTS: ServiceDefaults =
        ServiceDefaults { name: "payments", version: env!("CARGO_PKG_VERSION"), grpc_port: 50054, admin_port: 9084 };
    const ABOUT: &'static str = "mercato payments: charges and refunds for the checkout saga, through a provider port.";

    type Args = PaymentsArgs;
    type Command = NoCommand;
    type Settings = Settings;
    type Migrator = Migrator;

    const STREAM: Option<StreamSpec> = Some(StreamSpec { name: events::STREAM, subjects: &["payments.v1.>"] });

    fn settings(args: &PaymentsArgs, problems: &mut Problems) -> Option<Settings> {
        args.validate(problems)
    }

    async fn build(setup: Setup<'_, Settings>) -> anyhow::Result<()> {
        let Setup { config, db, server, events } = setup;
        let events = events.context("payments declares a stream, so it has events")?;
        let settings = &config.service;
        let provider = Calls {
            provider: Arc::new(
                TestProvider::new(settings.provider.clone()).context("opening the test provider's ledger")?,
            ),
            attempts: settings.attempts,
            timeout: settings.timeout,
        };
        let metrics = PaymentMetrics::register(server.metrics().registry()).context("registering payments' metrics")?;
        let charge = ChargeHandler { provider: provider.clone(), metrics };
        let refund = RefundHandler { provider };
        server
            .workers()
            .add(
                "charge-payment",
                events.consumer::<pb::ChargePaymentCommand, _>("charge-payment", events::STREAM, charge),
            )
            .add(
                "refund-payment",
                events.consumer::<pb::RefundPaymentCommand, _>("refund-payment", events::STREAM, refund),
            );
        server.add_service(PaymentServiceServer::new(PaymentApi::new(db.clone())));
        Ok(())
    }

    async fn run_command(command: NoCommand, _config: &Config, _db: &DatabaseConnection) -> anyhow::Result<()> {
        match command {}
    }
}
