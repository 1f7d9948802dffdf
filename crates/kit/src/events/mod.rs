//! The events backbone every service shares: JetStream streams provisioned from code, a
//! transactional outbox with a relay, idempotent consumers with classified errors and dead
//! letters, and per-replica feeds.
//!
//! - A handler writes its business rows and its events in ONE transaction
//!   ([`Outbox::publish`], then [`Outbox::commit`]); nothing is published if it rolls back.
//! - The relay ([`Relay`], a worker) publishes committed rows in commit order per aggregate,
//!   awaits JetStream's ack, marks them sent, and is woken right after a commit.
//! - A consumer ([`consumer`], a worker) runs a [`Handler`] for each message inside a
//!   transaction that also records `processed_events(event_id, consumer)`, so a redelivered
//!   event has no second effect; failures are retried with backoff or dead-lettered.
//! - A feed ([`feed::follow`]) hands every replica each new event, for caches and streams.

mod broker;
mod config;
mod consumer;
mod contracts;
pub mod dlq;
pub mod feed;
pub mod headers;
mod metrics;
pub mod migration;
mod outbox;
mod relay;
mod retry;
pub mod scope;

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use self::metrics::EventMetrics;
pub use self::{
    broker::{Broker, DLQ_STREAM, StreamSpec},
    config::{EventsArgs, EventsConfig},
    consumer::{Delivery, Handler, HandlerError},
    outbox::Outbox,
    relay::{Outcome, Relay},
};
use crate::shutdown::Shutdown;

/// A service's events: its broker, database and outbox, from which the relay, consumers and
/// feeds are made. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Events {
    broker: Broker,
    db: DatabaseConnection,
    outbox: Outbox,
    wake: Arc<Notify>,
    metrics: EventMetrics,
    streams: Vec<StreamSpec>,
}

impl Events {
    /// `streams`: those this service publishes into (provisioned by its relay).
    pub fn new(
        broker: Broker,
        db: DatabaseConnection,
        registry: &prometheus::Registry,
        streams: Vec<StreamSpec>,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let outbox = Outbox::new(broker.service, broker.version, wake.clone());
        Self { broker, db, outbox, wake, metrics: EventMetrics::register(registry), streams }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The outbox relay of this service.
    pub fn relay(&self) -> Relay {
        Relay::new(self.db.clone(), self.broker.clone(), self.wake.clone(), self.streams.clone(), self.metrics.clone())
    }

    /// The worker of a durable consumer `name` of `E` on `stream`, running `handler`.
    pub fn consumer<E: Event, H: Handler<E>>(
        &self,
        name: &'static str,
        stream: &'static str,
        handler: H,
    ) -> impl FnOnce(Shutdown) -> futures::future::BoxFuture<'static, anyhow::Result<()>> + Send + 'static {
        consumer::consumer::<E, H>(self, name, stream, handler)
    }

    /// The worker of a feed of `E` on `stream` for this replica (see [`feed::follow`]).
    pub fn follow<E: Event, F: Fn(E) + Send + Sync + 'static>(
        &self,
        stream: &'static str,
        on_event: F,
    ) -> impl FnOnce(Shutdown) -> futures::future::BoxFuture<'static, anyhow::Result<()>> + Send + 'static {
        feed::follow::<E, F>(self.broker.clone(), stream, on_event)
    }
}

/// Consumer lag and dead letters, asked of JetStream at each scrape (see `metrics.rs` here).
impl crate::metrics::Sampler for Events {
    fn sample(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(self.metrics.sample(&self.broker))
    }
}

/// A protobuf message that travels as an event (or command) on NATS.
///
/// Publisher and consumers must agree on subject, type and ordering key, so each contract's
/// impl lives once, here in the kit (`contracts.rs`), not in the services.
pub trait Event: prost::Message + Clone + Default + Send + Sync + 'static {
    /// The subject, naming context, version and type: `catalog.v1.stock_level_changed`.
    const SUBJECT: &'static str;
    /// The fully qualified protobuf type: `mercato.catalog.v1.StockLevelChanged`.
    const TYPE: &'static str;
    /// The aggregate whose events must stay in order (a product id, an order id).
    fn aggregate(&self) -> String;
}
