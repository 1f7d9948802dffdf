//! What shipping adds to the kit's service skeleton: consumers of orders' events, the durable
//! timer that dispatches and delivers, and the read API.

use anyhow::Context;
use mercato::{orders::v1 as orders, shipping::v1::shipping_service_server::ShippingServiceServer};
use mercato_kit::{
    config::{Problems, ServiceDefaults},
    events::StreamSpec,
    service::{self, NoCommand, Service, Setup},
};
use sea_orm::DatabaseConnection;

use crate::{
    config::{Settings, ShippingArgs},
    consumers::{OnCancelled, OnConfirmed},
    events,
    grpc::shipping::ShippingApi,
    metrics::ShippingMetrics,
    migration::Migrator,
    timer::Timer,
};

/// The shipping service.
#[derive(Debug)]
pub struct Shipping;

/// shipping's configuration.
pub type Config = service::Config<Settings>;

impl Service for Shipping {
    const DEFAULTS: ServiceDefaults =
        ServiceDefaults { name: "shipping", version: env!("CARGO_PKG_VERSION"), grpc_port: 50055, admin_port: 9085 };
    const ABOUT: &'static str =
        "mercato shipping: a shipment for each confirmed order, dispatched and delivered on durable due-times.";

    type Args = ShippingArgs;
    type Command = NoCommand;
    type Settings = Settings;
    type Migrator = Migrator;

    const STREAM: Option<StreamSpec> = Some(StreamSpec { name: events::STREAM, subjects: &["shipping.v1.>"] });

    fn settings(args: &ShippingArgs, problems: &mut Problems) -> Option<Settings> {
        args.validate(problems)
    }

    async fn build(setup: Setup<'_, Settings>) -> anyhow::Result<()> {
        let Setup { config, db, server, events } = setup;
        let events = events.context("shipping declares a stream, so it has events")?;
        let settings = &config.service;
        let confirmed = OnConfirmed { carriers: settings.carriers.clone(), delays: settings.delays };
        let metrics =
            ShippingMetrics::register(server.metrics().registry()).context("registering shipping's metrics")?;
        let timer = Timer {
            db: db.clone(),
            outbox: events.outbox().clone(),
            delays: settings.delays,
            interval: settings.timer_interval,
            metrics,
        };
        server
            .workers()
            .add(
                "order-confirmed",
                events.consumer::<orders::OrderConfirmed, _>("order-confirmed", events::ORDERS, confirmed),
            )
            .add(
                "order-cancelled",
                events.consumer::<orders::OrderCancelled, _>("order-cancelled", events::ORDERS, OnCancelled),
            )
            .add("shipping-timer", move |stop| timer.run(stop));
        server.add_service(ShippingServiceServer::new(ShippingApi::new(db.clone())));
        Ok(())
    }

    async fn run_command(command: NoCommand, _config: &Config, _db: &DatabaseConnection) -> anyhow::Result<()> {
        match command {}
    }
}
