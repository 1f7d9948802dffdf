//! What the events layer exports on /metrics: the outbox's backlog and age, and each
//! consumer's outcomes and handling time. Registered once per server (its registry), shared by
//! its relay and consumers.

use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

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
        };
        let _ = registry.register(Box::new(metrics.outbox_backlog.clone()));
        let _ = registry.register(Box::new(metrics.outbox_oldest_unsent_seconds.clone()));
        let _ = registry.register(Box::new(metrics.outbox_published.clone()));
        let _ = registry.register(Box::new(metrics.outbox_failures.clone()));
        let _ = registry.register(Box::new(metrics.consumed.clone()));
        let _ = registry.register(Box::new(metrics.handling_seconds.clone()));
        let _ = registry.register(Box::new(metrics.batch_rollbacks.clone()));
        metrics
    }
}
