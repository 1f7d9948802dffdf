//! What orders adds to the kit's service skeleton: the cart and order APIs over catalog, the
//! saga's reply consumers and durable timer, and the status feed WatchOrder serves from.

use anyhow::Context;
use mercato::{
    catalog::v1 as catalog,
    orders::v1::{self as pb, cart_service_server::CartServiceServer, order_service_server::OrderServiceServer},
    payments::v1 as payments,
};
use mercato_kit::{
    client::ClientMetrics,
    config::{Problems, ServiceDefaults},
    events::StreamSpec,
    service::{self, NoCommand, Service, Setup},
};
use sea_orm::DatabaseConnection;

use crate::{
    catalog::Catalog,
    config::{OrdersArgs, Settings},
    events,
    grpc::{cart::CartApi, orders::OrderApi},
    metrics::OrderMetrics,
    migration::Migrator,
    saga::{Timing, replies::OnReply, timer::Timer},
    watch::Changes,
};

/// The orders service.
#[derive(Debug)]
pub struct Orders;

/// orders' configuration.
pub type Config = service::Config<Settings>;

/// The streams the saga's replies come from (owned by catalog and payments).
const CATALOG: &str = "CATALOG";
const PAYMENTS: &str = "PAYMENTS";

impl Service for Orders {
    const DEFAULTS: ServiceDefaults =
        ServiceDefaults { name: "orders", version: env!("CARGO_PKG_VERSION"), grpc_port: 50053, admin_port: 9083 };
    const ABOUT: &'static str = "mercato orders: carts, orders and the checkout saga's orchestrator.";

    type Args = OrdersArgs;
    type Command = NoCommand;
    type Settings = Settings;
    type Migrator = Migrator;

    const STREAM: Option<StreamSpec> = Some(StreamSpec { name: events::STREAM, subjects: &["orders.v1.>"] });

    fn settings(args: &OrdersArgs, problems: &mut Problems) -> Option<Settings> {
        args.validate(problems)
    }

    async fn build(setup: Setup<'_, Settings>) -> anyhow::Result<()> {
        let Setup { config, db, server, events } = setup;
        let events = events.context("orders declares a stream, so it has events")?;
        let settings = &config.service;
        let client_metrics = ClientMetrics::register(server.metrics().registry());
        let catalog =
            Catalog::new(&settings.catalog_url, settings.catalog_timeout, settings.downstream, &client_metrics)?;
        let metrics = OrderMetrics::register(server.metrics().registry()).context("registering orders' metrics")?;
        let timing = Timing { step_timeout: settings.step_timeout };
        let on = OnReply { timing, metrics: metrics.clone() };
        server
            .workers()
            .add("stock-reserved", events.consumer::<catalog::StockReserved, _>("stock-reserved", CATALOG, on.clone()))
            .add(
                "stock-reservation-failed",
                events.consumer::<catalog::StockReservationFailed, _>("stock-reservation-failed", CATALOG, on.clone()),
            )
            .add("stock-released", events.consumer::<catalog::StockReleased, _>("stock-released", CATALOG, on.clone()))
            .add(
                "stock-committed",
                events.consumer::<catalog::StockCommitted, _>("stock-committed", CATALOG, on.clone()),
            )
            .add(
                "payment-completed",
                events.consumer::<payments::PaymentCompleted, _>("payment-completed", PAYMENTS, on.clone()),
            )
            .add(
                "payment-failed",
                events.consumer::<payments::PaymentFailed, _>("payment-failed", PAYMENTS, on.clone()),
            )
            .add("payment-refunded", events.consumer::<payments::PaymentRefunded, _>("payment-refunded", PAYMENTS, on));
        let timer = Timer {
            db: db.clone(),
            outbox: events.outbox().clone(),
            timing,
            interval: settings.timer_interval,
            metrics: metrics.clone(),
        };
        server.workers().add("saga-timer", move |stop| timer.run(stop));
        let changes = Changes::default();
        let feed = changes.clone();
        server.workers().add(
            "order-status-feed",
            events.follow::<pb::OrderStatusChanged, _>(events::STREAM, move |change| feed.publish(change)),
        );
        let streams_stop = server.draining();
        server.add_service(CartServiceServer::new(CartApi::new(db.clone(), catalog.clone()))).add_service(
            OrderServiceServer::new(OrderApi::new(
                db.clone(),
                events.outbox().clone(),
                catalog,
                timing,
                changes,
                streams_stop,
                metrics,
            )),
        );
        Ok(())
    }

    async fn run_command(command: NoCommand, _config: &Config, _db: &DatabaseConnection) -> anyhow::Result<()> {
        match command {}
    }
}
