//! What notifications adds to the kit's service skeleton: consumers of identity's, orders',
//! payments' and shipping's events around a sink.

use anyhow::Context;
use mercato::{
    identity::v1 as identity, notifications::v1::notification_service_server::NotificationServiceServer,
    orders::v1 as orders, payments::v1 as payments, shipping::v1 as shipping,
};
use mercato_kit::{
    config::{Problems, ServiceDefaults},
    events::StreamSpec,
    service::{self, NoCommand, Service, Setup},
};
use sea_orm::DatabaseConnection;

use crate::{
    config::{NotificationsArgs, Settings},
    consumers::{Contacts, Notify, Sending},
    grpc::NotificationApi,
    metrics::NotificationMetrics,
    migration::Migrator,
    sink,
};

/// The notifications service.
#[derive(Debug)]
pub struct Notifications;

/// notifications' configuration.
pub type Config = service::Config<Settings>;

impl Service for Notifications {
    const DEFAULTS: ServiceDefaults = ServiceDefaults {
        name: "notifications",
        version: env!("CARGO_PKG_VERSION"),
        grpc_port: 50056,
        admin_port: 9086,
    };
    const ABOUT: &'static str =
        "mercato notifications: messages to customers, rendered from other contexts' events, through a sink.";

    type Args = NotificationsArgs;
    type Command = NoCommand;
    type Settings = Settings;
    type Migrator = Migrator;

    // It publishes nothing yet; the stream is where its own events will go, and declaring one
    // is what gives a service its consumers.
    const STREAM: Option<StreamSpec> = Some(StreamSpec { name: "NOTIFICATIONS", subjects: &["notifications.v1.>"] });

    fn settings(args: &NotificationsArgs, problems: &mut Problems) -> Option<Settings> {
        args.validate(problems)
    }

    async fn build(setup: Setup<'_, Settings>) -> anyhow::Result<()> {
        let Setup { config, db, server, events } = setup;
        let events = events.context("notifications declares a stream, so it has events")?;
        let settings = &config.service;
        let sink = sink::from_choice(&settings.sink)?;
        let metrics =
            NotificationMetrics::register(server.metrics().registry()).context("registering notifications' metrics")?;
        let sending = Sending { sink, from: settings.from.clone(), metrics };
        let contacts = Contacts { sending: sending.clone() };
        server
            .workers()
            .add(
                "user-registered",
                events.consumer::<identity::UserRegistered, _>("user-registered", "IDENTITY", contacts.clone()),
            )
            .add(
                "user-profile-changed",
                events.consumer::<identity::UserProfileChanged, _>("user-profile-changed", "IDENTITY", contacts),
            )
            .add(
                "order-placed",
                events.consumer::<orders::OrderPlaced, _>("order-placed", "ORDERS", Notify::new(sending.clone())),
            )
            .add(
                "order-cancelled",
                events.consumer::<orders::OrderCancelled, _>("order-cancelled", "ORDERS", Notify::new(sending.clone())),
            )
            .add(
                "payment-completed",
                events.consumer::<payments::PaymentCompleted, _>(
                    "payment-completed",
                    "PAYMENTS",
                    Notify::new(sending.clone()),
                ),
            )
            .add(
                "payment-failed",
                events.consumer::<payments::PaymentFailed, _>(
                    "payment-failed",
                    "PAYMENTS",
                    Notify::new(sending.clone()),
                ),
            )
            .add(
                "shipment-dispatched",
                events.consumer::<shipping::ShipmentDispatched, _>(
                    "shipment-dispatched",
                    "SHIPPING",
                    Notify::new(sending.clone()),
                ),
            )
            .add(
                "shipment-delivered",
                events.consumer::<shipping::ShipmentDelivered, _>(
                    "shipment-delivered",
                    "SHIPPING",
                    Notify::new(sending),
                ),
            );
        server.add_service(NotificationServiceServer::new(NotificationApi { db: db.clone() }));
        Ok(())
    }

    async fn run_command(command: NoCommand, _config: &Config, _db: &DatabaseConnection) -> anyhow::Result<()> {
        match command {}
    }
}
