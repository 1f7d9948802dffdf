//! What the events layer exports on /metrics: the outbox's backlog and age, each consumer's
//! outcomes, handling time and redeliveries, and what JetStream holds for each consumer (lag,
//! unacked messages, dead letters). Registered once per server (its registry), shared by its
//! relay and consumers.
//!
//! The JetStream numbers are sampled when /metrics is scraped ([`crate::metrics::Sampler`]),
//! not by a periodic task: they are then as fresh as the scrape, nothing asks JetStream while
//! nobody scrapes, and the admin listener already bounds a scrape's wait (a broker away costs
//! a scrape nothing: no request is sent while disconnected, and one that hangs is abandoned).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use futures::{TryStreamExt, future::join_all};
use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use super::{
    Broker,
    broker::{DLQ_STREAM, dlq_subject},
    consumer::durable_name,
};

/// A consumer this server runs, as JetStream knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Registered {
    name: &'static str,
    stream: &'static str,
}

/// The events metrics of one server.
#[derive(Debug, Clone)]
pub(crate) struct EventMetrics {
    pub(crate) outbox_backlog: IntGauge,
    pub(crate) outbox_oldest_unsent_seconds: Gauge,
    pub(crate) outbox_published: IntCounter,
    pub(crate) outbox_failures: IntCounter,
    /// outcome: processed, duplicate, retried, dead_lettered, skipped
    pub(crate) consumed: IntCounterVec,
    pub(crate) handling_seconds: HistogramVec,
    /// Batches rolled back and handled again message by message (a failing message, a
    /// deadlock, a lost connection).
    pub(crate) batch_rollbacks: IntCounterVec,
    /// Deliveries that were not a message's first.
    pub(crate) redeliveries: IntCounterVec,
    pending: IntGaugeVec,
    ack_pending: IntGaugeVec,
    dead_letters: IntGaugeVec,
    /// The consumers to sample, added as their workers are made.
    consumers: Arc<Mutex<Vec<Registered>>>,
}

impl EventMetrics {
    pub(crate) fn register(registry: &Registry) -> Self {
        let backlog = IntGauge::new("mercato_outbox_backlog", "Outbox rows committed but not yet published.");
        let oldest = Gauge::new(
            "mercato_outbox_oldest_unsent_age_seconds",
            "Age of the oldest committed but unpublished outbox row (0 when there is none).",
        );
        let published = IntCounter::new("mercato_outbox_published_total", "Outbox rows published and acknowledged.");
        let failures =
            IntCounter::new("mercato_outbox_publish_failures_total", "Relay rounds that failed (broker or database).");
        let consumed = IntCounterVec::new(
            Opts::new("mercato_consumer_messages_total", "Messages a consumer finished with, by outcome."),
            &["consumer", "outcome"],
        );
        let handling = HistogramVec::new(
            HistogramOpts::new("mercato_consumer_handling_seconds", "Time from delivery to ack, per consumer.")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["consumer"],
        );
        let rollbacks = IntCounterVec::new(
            Opts::new(
                "mercato_consumer_batch_rollbacks_total",
                "Batches of messages whose shared transaction failed and that were handled again one by one.",
            ),
            &["consumer"],
        );
        let per_consumer = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &["consumer"]);
        let redeliveries = IntCounterVec::new(
            Opts::new("mercato_consumer_redeliveries_total", "Deliveries of a message that were not its first."),
            &["consumer"],
        );
        let pending = per_consumer(
            "mercato_consumer_pending_messages",
            "Messages in the stream for the consumer, not yet delivered (JetStream num_pending).",
        );
        let ack_pending = per_consumer(
            "mercato_consumer_ack_pending_messages",
            "Messages delivered to the consumer, not yet acknowledged (JetStream num_ack_pending).",
        );
        let dead_letters =
            per_consumer("mercato_dlq_messages", "Dead letters held for the consumer on dlq.<service>.<consumer>.");
        // Constant names and help texts: these cannot fail.
        #[allow(clippy::expect_used)]
        let metrics = Self {
            outbox_backlog: backlog.expect("valid metric"),
            outbox_oldest_unsent_seconds: oldest.expect("valid metric"),
            outbox_published: published.expect("valid metric"),
            outbox_failures: failures.expect("valid metric"),
            consumed: consumed.expect("valid metric"),
            handling_seconds: handling.expect("valid metric"),
            batch_rollbacks: rollbacks.expect("valid metric"),
            redeliveries: redeliveries.expect("valid metric"),
            pending: pending.expect("valid metric"),
            ack_pending: ack_pending.expect("valid metric"),
            dead_letters: dead_letters.expect("valid metric"),
            consumers: Arc::default(),
        };
        let _ = registry.register(Box::new(metrics.outbox_backlog.clone()));
        let _ = registry.register(Box::new(metrics.outbox_oldest_unsent_seconds.clone()));
        let _ = registry.register(Box::new(metrics.outbox_published.clone()));
        let _ = registry.register(Box::new(metrics.outbox_failures.clone()));
        let _ = registry.register(Box::new(metrics.consumed.clone()));
        let _ = registry.register(Box::new(metrics.handling_seconds.clone()));
        let _ = registry.register(Box::new(metrics.batch_rollbacks.clone()));
        let _ = registry.register(Box::new(metrics.redeliveries.clone()));
        let _ = registry.register(Box::new(metrics.pending.clone()));
        let _ = registry.register(Box::new(metrics.ack_pending.clone()));
        let _ = registry.register(Box::new(metrics.dead_letters.clone()));
        metrics
    }

    /// Adds consumer `name` on `stream` to those sampled. Its redeliveries and rolled-back
    /// batches start at 0, so that a rate() over them is defined before the first one.
    pub(crate) fn add_consumer(&self, name: &'static str, stream: &'static str) {
        let mut consumers = self.consumers.lock().unwrap_or_else(PoisonError::into_inner);
        let consumer = Registered { name, stream };
        if !consumers.contains(&consumer) {
            consumers.push(consumer);
        }
        self.redeliveries.with_label_values(&[name]);
        self.batch_rollbacks.with_label_values(&[name]);
    }

    /// Asks JetStream for every consumer's lag and unacked messages (one request each, at
    /// once) and for the DLQ's messages per subject of this service (one request). What
    /// cannot be asked keeps its last value; `mercato_ready` says why.
    pub(crate) async fn sample(&self, broker: &Broker) {
        let consumers = self.consumers.lock().unwrap_or_else(PoisonError::into_inner).clone();
        // While disconnected a request waits for the reconnect: there is no answer to wait for.
        if consumers.is_empty() || broker.client().connection_state() != async_nats::connection::State::Connected {
            return;
        }
        let lag = consumers.iter().map(|consumer| self.sample_consumer(broker, *consumer));
        futures::future::join(join_all(lag), self.sample_dead_letters(broker, &consumers)).await;
    }

    async fn sample_consumer(&self, broker: &Broker, consumer: Registered) {
        let info = async {
            let stream = broker.jetstream().get_stream_no_info(consumer.stream).await?;
            anyhow::Ok(stream.consumer_info(durable_name(broker.service(), consumer.name)).await?)
        };
        match info.await {
            Ok(info) => {
                let labels = [consumer.name];
                self.pending.with_label_values(&labels).set(i64::try_from(info.num_pending).unwrap_or(i64::MAX));
                self.ack_pending
                    .with_label_values(&labels)
                    .set(i64::try_from(info.num_ack_pending).unwrap_or(i64::MAX));
            }
            // Before its worker first reaches JetStream, a consumer does not exist yet.
            Err(e) => tracing::debug!(consumer = consumer.name, error = format!("{e:#}"), "consumer info not sampled"),
        }
    }

    async fn sample_dead_letters(&self, broker: &Broker, consumers: &[Registered]) {
        let counts = async {
            let stream = broker.jetstream().get_stream_no_info(DLQ_STREAM.name).await?;
            let filter = dlq_subject(broker.service(), "*");
            let counts: HashMap<String, usize> = stream.info_with_subjects(filter).await?.try_collect().await?;
            anyhow::Ok(counts)
        };
        match counts.await {
            Ok(counts) => {
                for consumer in consumers {
                    // A subject with no message left is not listed at all.
                    let held = counts.get(&dlq_subject(broker.service(), consumer.name)).copied().unwrap_or(0);
                    self.dead_letters.with_label_values(&[consumer.name]).set(i64::try_from(held).unwrap_or(i64::MAX));
                }
            }
            Err(e) => tracing::debug!(error = format!("{e:#}"), "dead letters not sampled"),
        }
    }
}
