//! How streams, the outbox relay and consumers behave: flags every service accepts, validated
//! with the rest of its configuration.

use std::time::Duration;

use crate::config::{Problems, parse_count, parse_duration};

/// Event flags. Raw strings, checked in [`EventsArgs::validate`].
#[derive(Debug, Clone, clap::Args)]
pub struct EventsArgs {
    /// How long a stream keeps events.
    #[arg(long, global = true, env = "EVENTS_MAX_AGE", default_value = "7d")]
    pub events_max_age: String,
    /// Most bytes a stream keeps (the oldest go first).
    #[arg(long, global = true, env = "EVENTS_MAX_BYTES", default_value = "1073741824")]
    pub events_max_bytes: String,
    /// Window in which JetStream drops a re-published event id (a relay that crashed between
    /// publishing and marking sent).
    #[arg(long, global = true, env = "EVENTS_DUPLICATE_WINDOW", default_value = "2m")]
    pub events_duplicate_window: String,
    /// Stream replicas (1, or 3 on a NATS cluster).
    #[arg(long, global = true, env = "EVENTS_REPLICAS", default_value = "1")]
    pub events_replicas: String,
    /// How long the dead-letter stream keeps messages.
    #[arg(long, global = true, env = "DLQ_MAX_AGE", default_value = "30d")]
    pub dlq_max_age: String,
    /// How long a consumer may hold a message before JetStream redelivers it.
    #[arg(long, global = true, env = "CONSUMER_ACK_WAIT", default_value = "30s")]
    pub consumer_ack_wait: String,
    /// Deliveries of one message before it is dead-lettered.
    #[arg(long, global = true, env = "CONSUMER_MAX_DELIVER", default_value = "5")]
    pub consumer_max_deliver: String,
    /// Delays before the 2nd, 3rd, … delivery after a transient failure, comma-separated (the
    /// last repeats); each gets up to ±20 % jitter.
    #[arg(long, global = true, env = "CONSUMER_BACKOFF", default_value = "1s,5s,30s,2m")]
    pub consumer_backoff: String,
    /// Messages JetStream hands a consumer before it acks any.
    #[arg(long, global = true, env = "CONSUMER_MAX_ACK_PENDING", default_value = "1000")]
    pub consumer_max_ack_pending: String,
    /// Messages one consumer has pulled and not yet acked.
    #[arg(long, global = true, env = "CONSUMER_IN_FLIGHT", default_value = "64")]
    pub consumer_in_flight: String,
    /// Most messages handled in one transaction: the messages that are waiting when a
    /// transaction starts share it (and its commit), so a burst costs one commit per batch,
    /// while a lone message is handled at once. `CONSUMER_IN_FLIGHT / CONSUMER_BATCH`
    /// transactions run at once.
    #[arg(long, global = true, env = "CONSUMER_BATCH", default_value = "16")]
    pub consumer_batch: String,
    /// How often the relay looks for unsent outbox rows when nothing woke it (rows written by
    /// another replica, a missed wake-up).
    #[arg(long, global = true, env = "OUTBOX_POLL_INTERVAL", default_value = "1s")]
    pub outbox_poll_interval: String,
    /// Outbox rows published per round trip.
    #[arg(long, global = true, env = "OUTBOX_BATCH", default_value = "256")]
    pub outbox_batch: String,
    /// How long sent outbox rows are kept before they are pruned.
    #[arg(long, global = true, env = "OUTBOX_RETENTION", default_value = "7d")]
    pub outbox_retention: String,
}

/// Validated event settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    pub max_age: Duration,
    pub max_bytes: i64,
    pub duplicate_window: Duration,
    pub replicas: usize,
    pub dlq_max_age: Duration,
    pub ack_wait: Duration,
    pub max_deliver: u32,
    pub backoff: Vec<Duration>,
    pub max_ack_pending: u32,
    pub in_flight: usize,
    pub consumer_batch: usize,
    pub poll_interval: Duration,
    pub batch: usize,
    pub retention: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(7 * 86_400),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
            dlq_max_age: Duration::from_secs(30 * 86_400),
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            backoff: [1, 5, 30, 120].map(Duration::from_secs).into(),
            max_ack_pending: 1000,
            in_flight: 64,
            consumer_batch: 16,
            poll_interval: Duration::from_secs(1),
            batch: 256,
            retention: Duration::from_secs(7 * 86_400),
        }
    }
}

impl EventsConfig {
    /// How many of a consumer's transactions run at once.
    pub fn concurrent_batches(&self) -> usize {
        self.in_flight.div_ceil(self.consumer_batch.max(1)).max(1)
    }

    /// The delay before redelivery after `attempt` (1-based) failed.
    pub fn backoff_after(&self, attempt: u32) -> Duration {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.backoff.get(index).or(self.backoff.last()).copied().unwrap_or(Duration::from_secs(1))
    }
}

impl EventsArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<EventsConfig> {
        let duration = |problems: &mut Problems, setting: &str, raw: &str| problems.check(setting, parse_duration(raw));
        let max_age = duration(problems, "EVENTS_MAX_AGE (--events-max-age)", &self.events_max_age);
        let max_bytes = problems
            .check("EVENTS_MAX_BYTES (--events-max-bytes)", parse_bytes(&self.events_max_bytes))
            .and_then(|b| i64::try_from(b).ok());
        let duplicate_window =
            duration(problems, "EVENTS_DUPLICATE_WINDOW (--events-duplicate-window)", &self.events_duplicate_window);
        let replicas = problems.check("EVENTS_REPLICAS (--events-replicas)", parse_count(&self.events_replicas, 1, 5));
        let dlq_max_age = duration(problems, "DLQ_MAX_AGE (--dlq-max-age)", &self.dlq_max_age);
        let ack_wait = duration(problems, "CONSUMER_ACK_WAIT (--consumer-ack-wait)", &self.consumer_ack_wait);
        let max_deliver = problems
            .check("CONSUMER_MAX_DELIVER (--consumer-max-deliver)", parse_count(&self.consumer_max_deliver, 1, 100));
        let backoff = problems.check("CONSUMER_BACKOFF (--consumer-backoff)", parse_backoff(&self.consumer_backoff));
        let max_ack_pending = problems.check(
            "CONSUMER_MAX_ACK_PENDING (--consumer-max-ack-pending)",
            parse_count(&self.consumer_max_ack_pending, 1, 1_000_000),
        );
        let in_flight =
            problems.check("CONSUMER_IN_FLIGHT (--consumer-in-flight)", parse_count(&self.consumer_in_flight, 1, 1024));
        let consumer_batch =
            problems.check("CONSUMER_BATCH (--consumer-batch)", parse_count(&self.consumer_batch, 1, 1024));
        let poll_interval =
            duration(problems, "OUTBOX_POLL_INTERVAL (--outbox-poll-interval)", &self.outbox_poll_interval);
        let batch = problems.check("OUTBOX_BATCH (--outbox-batch)", parse_count(&self.outbox_batch, 1, 10_000));
        let retention = duration(problems, "OUTBOX_RETENTION (--outbox-retention)", &self.outbox_retention);
        if let (Some(window), Some(age)) = (duplicate_window, max_age)
            && window > age
        {
            problems
                .push("EVENTS_DUPLICATE_WINDOW (--events-duplicate-window)", "must not be longer than EVENTS_MAX_AGE");
        }
        if let Some(poll) = poll_interval
            && poll.is_zero()
        {
            problems.push("OUTBOX_POLL_INTERVAL (--outbox-poll-interval)", "must be longer than 0");
        }
        Some(EventsConfig {
            max_age: max_age?,
            max_bytes: max_bytes?,
            duplicate_window: duplicate_window?,
            replicas: usize::try_from(replicas?).ok()?,
            dlq_max_age: dlq_max_age?,
            ack_wait: ack_wait?,
            max_deliver: max_deliver?,
            backoff: backoff?,
            max_ack_pending: max_ack_pending?,
            in_flight: usize::try_from(in_flight?).ok()?,
            consumer_batch: usize::try_from(consumer_batch?).ok()?,
            poll_interval: poll_interval?,
            batch: usize::try_from(batch?).ok()?,
            retention: retention?,
        })
    }
}

fn parse_bytes(raw: &str) -> Result<u64, String> {
    let value: u64 = raw.trim().parse().map_err(|_| format!("{raw:?} is not a number of bytes"))?;
    if value < 1 << 20 { Err(format!("{value} is below 1 MiB")) } else { Ok(value) }
}

fn parse_backoff(raw: &str) -> Result<Vec<Duration>, String> {
    let delays: Vec<Duration> =
        raw.split(',').map(str::trim).filter(|d| !d.is_empty()).map(parse_duration).collect::<Result<_, _>>()?;
    if delays.is_empty() {
        return Err("must list at least one delay".into());
    }
    if delays.len() > 20 {
        return Err("at most 20 delays".into());
    }
    Ok(delays)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> EventsArgs {
        EventsArgs {
            events_max_age: "7d".into(),
            events_max_bytes: "1073741824".into(),
            events_duplicate_window: "2m".into(),
            events_replicas: "1".into(),
            dlq_max_age: "30d".into(),
            consumer_ack_wait: "30s".into(),
            consumer_max_deliver: "5".into(),
            consumer_backoff: "1s,5s,30s,2m".into(),
            consumer_max_ack_pending: "1000".into(),
            consumer_in_flight: "64".into(),
            consumer_batch: "16".into(),
            outbox_poll_interval: "1s".into(),
            outbox_batch: "256".into(),
            outbox_retention: "7d".into(),
        }
    }

    #[test]
    fn the_defaults_validate_to_the_default_config() {
        let mut problems = Problems::default();
        let config = args().validate(&mut problems);
        assert_eq!(problems.finish(config).unwrap(), EventsConfig::default());
    }

    #[test]
    fn every_bad_setting_is_named() {
        let mut bad = args();
        bad.events_max_age = "1m".into();
        bad.consumer_backoff = "1s,soon".into();
        bad.consumer_in_flight = "0".into();
        bad.events_max_bytes = "12".into();
        let mut problems = Problems::default();
        let config = bad.validate(&mut problems);
        let error = problems.finish(config).unwrap_err().to_string();
        for setting in ["EVENTS_DUPLICATE_WINDOW", "CONSUMER_BACKOFF", "CONSUMER_IN_FLIGHT", "EVENTS_MAX_BYTES"] {
            assert!(error.contains(setting), "{setting}: {error}");
        }
    }

    #[test]
    fn backoff_repeats_its_last_delay() {
        let config = EventsConfig::default();
        assert_eq!(config.backoff_after(1), Duration::from_secs(1));
        assert_eq!(config.backoff_after(4), Duration::from_secs(120));
        assert_eq!(config.backoff_after(40), Duration::from_secs(120));
    }
}
