//! Durable consumers: each message is handled once, in a transaction that also records it in
//! `processed_events`; failures are classified, retried with backoff, or dead-lettered.
//!
//! One step ([`Consumer::process`]) handles one message; the worker only pulls, runs up to
//! `CONSUMER_IN_FLIGHT` steps at once and, on shutdown, stops pulling and lets the steps in
//! flight finish and ack.

use std::{future::Future, sync::Arc, time::Duration};

use async_nats::{
    HeaderMap,
    jetstream::{
        AckKind, Message,
        consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
        message::PublishMessage,
    },
};
use chrono::Utc;
use futures::{StreamExt, future::BoxFuture};
use sea_orm::{ActiveValue::Set, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, sea_query::OnConflict};
use tokio::time::Instant;

use super::{
    Broker, Event, Outbox, headers, metrics::EventMetrics, migration::entity::processed_event, retry::Failures, scope,
};
use crate::{db, shutdown::Shutdown};

/// What a handler gets besides the event: the transaction its effects go into (and, through
/// the outbox, the events they cause), and where the message came from.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub txn: &'a DatabaseTransaction,
    pub outbox: &'a Outbox,
    pub event_id: &'a str,
    /// 1 on first delivery.
    pub attempt: u32,
}

/// Why a handler did not finish. Transient failures are retried with backoff until
/// `CONSUMER_MAX_DELIVER`; permanent ones are dead-lettered at once.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0:#}")]
    Transient(anyhow::Error),
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

/// A database error is worth retrying: the next delivery may find the pool, the lock or the
/// row it needed.
impl From<DbErr> for HandlerError {
    fn from(e: DbErr) -> Self {
        Self::Transient(e.into())
    }
}

/// Handles one kind of event.
pub trait Handler<E: Event>: Send + Sync + 'static {
    fn handle(&self, event: E, delivery: &Delivery<'_>) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handled {
    Processed,
    Duplicate,
    Retried,
    DeadLettered,
    /// A replayed dead letter meant for another consumer.
    Skipped,
}

impl Handled {
    fn label(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Duplicate => "duplicate",
            Self::Retried => "retried",
            Self::DeadLettered => "dead_lettered",
            Self::Skipped => "skipped",
        }
    }
}

/// A durable consumer of `E` on one stream.
pub(crate) struct Consumer<E, H> {
    pub(crate) name: &'static str,
    pub(crate) stream: &'static str,
    pub(crate) broker: Broker,
    pub(crate) db: DatabaseConnection,
    pub(crate) outbox: Outbox,
    pub(crate) metrics: EventMetrics,
    pub(crate) handler: Arc<H>,
    pub(crate) _event: std::marker::PhantomData<fn() -> E>,
}

/// The worker for a consumer, as [`crate::worker::Workers::add`] takes it.
pub(super) fn consumer<E: Event, H: Handler<E>>(
    events: &super::Events,
    name: &'static str,
    stream: &'static str,
    handler: H,
) -> impl FnOnce(Shutdown) -> BoxFuture<'static, anyhow::Result<()>> + Send + 'static {
    let consumer = Consumer::<E, H> {
        name,
        stream,
        broker: events.broker.clone(),
        db: events.db.clone(),
        outbox: events.outbox.clone(),
        metrics: events.metrics.clone(),
        handler: Arc::new(handler),
        _event: std::marker::PhantomData,
    };
    move |stop| Box::pin(consumer.run(stop))
}

impl<E: Event, H: Handler<E>> Consumer<E, H> {
    /// The durable name: the service and the consumer, unique per stream.
    fn durable(&self) -> String {
        format!("{}-{}", self.broker.service(), self.name)
    }

    async fn ensure(&self) -> anyhow::Result<PullConsumer> {
        let config = self.broker.config();
        let stream = self.broker.jetstream().get_stream(self.stream).await?;
        let consumer = pull::Config {
            durable_name: Some(self.durable()),
            filter_subject: E::SUBJECT.to_string(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            // One more than ours: the extra delivery of a message that kept timing out (a
            // handler that hangs or a process that dies) reaches us and is dead-lettered,
            // instead of JetStream silently giving up on it.
            max_deliver: i64::from(config.max_deliver) + 1,
            max_ack_pending: i64::from(config.max_ack_pending),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        };
        Ok(stream.create_consumer(consumer).await?)
    }

    async fn run(self, stop: Shutdown) -> anyhow::Result<()> {
        let mut failures = Failures::default();
        let in_flight = self.broker.config().in_flight;
        loop {
            if stop.is_triggered() {
                return Ok(());
            }
            let messages = match self.ensure().await {
                Ok(consumer) => {
                    consumer.stream().max_messages_per_batch(in_flight).messages().await.map_err(Into::into)
                }
                Err(e) => Err(e),
            };
            let messages = match messages {
                Ok(messages) => {
                    failures.reset();
                    messages
                }
                Err(e) => {
                    if failures.record() {
                        tracing::warn!(
                            consumer = self.name,
                            stream = self.stream,
                            error = format!("{e:#}"),
                            "consumer cannot start yet; retrying"
                        );
                    }
                    tokio::select! {
                        () = stop.wait() => return Ok(()),
                        () = tokio::time::sleep(failures.linear_wait()) => continue,
                    }
                }
            };
            // Stop pulling at shutdown; the messages in flight finish and ack first.
            messages
                .take_until(stop.wait())
                .for_each_concurrent(in_flight, |message| async {
                    match message {
                        Ok(message) => {
                            self.process(message).await;
                        }
                        Err(e) => tracing::debug!(consumer = self.name, error = %e, "pull interrupted"),
                    }
                })
                .await;
        }
    }

    /// Handles one message to the end: ack, NAK with a delay, or dead letter.
    pub(crate) async fn process(&self, message: Message) -> Handled {
        let started = Instant::now();
        let outcome = self.outcome(&message).await;
        self.metrics.consumed.with_label_values(&[self.name, outcome.label()]).inc();
        self.metrics.handling_seconds.with_label_values(&[self.name]).observe(started.elapsed().as_secs_f64());
        outcome
    }

    async fn outcome(&self, message: &Message) -> Handled {
        let attempt = message.info().map_or(1, |info| u32::try_from(info.delivered).unwrap_or(u32::MAX));
        let headers = message.headers.clone().unwrap_or_default();
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
        if let Some(target) = header(headers::REPLAY_FOR)
            && target != self.durable()
        {
            ack(message, AckKind::Ack).await;
            return Handled::Skipped;
        }
        let max_deliver = self.broker.config().max_deliver;
        if attempt > max_deliver {
            return self
                .dead_letter(message, "delivery attempts exhausted (no ack within CONSUMER_ACK_WAIT)", attempt)
                .await;
        }
        let Some(event_id) = header(headers::EVENT_ID).or_else(|| header(headers::MSG_ID)) else {
            return self.dead_letter(message, "no event id header", attempt).await;
        };
        match header(headers::EVENT_TYPE) {
            Some(kind) if kind == E::TYPE => {}
            other => {
                let reason = format!("expected {}, got {}", E::TYPE, other.as_deref().unwrap_or("no type header"));
                return self.dead_letter(message, &reason, attempt).await;
            }
        }
        let event = match E::decode(message.payload.clone()) {
            Ok(event) => event,
            Err(e) => return self.dead_letter(message, &format!("undecodable {}: {e}", E::TYPE), attempt).await,
        };
        let correlation =
            scope::Correlation { request_id: header(headers::REQUEST_ID), traceparent: header(headers::TRACEPARENT) };
        let result = scope::with(correlation, self.handle_once(event, &event_id, attempt)).await;
        match result {
            Ok(true) => {
                ack(message, AckKind::Ack).await;
                Handled::Processed
            }
            Ok(false) => {
                ack(message, AckKind::Ack).await;
                Handled::Duplicate
            }
            Err(HandlerError::Permanent(e)) => self.dead_letter(message, &format!("{e:#}"), attempt).await,
            Err(HandlerError::Transient(e)) if attempt >= max_deliver => {
                self.dead_letter(message, &format!("{e:#}"), attempt).await
            }
            Err(HandlerError::Transient(e)) => {
                let delay = jitter(self.broker.config().backoff_after(attempt));
                tracing::info!(consumer = self.name, %event_id, attempt, ?delay, error = format!("{e:#}"), "handler failed; retrying later");
                ack(message, AckKind::Nak(Some(delay))).await;
                Handled::Retried
            }
        }
    }

    /// Runs the handler in a write transaction that first claims the event for this consumer.
    /// `Ok(false)`: it had been processed already, nothing was done.
    async fn handle_once(&self, event: E, event_id: &str, attempt: u32) -> Result<bool, HandlerError> {
        let txn = db::begin_write(&self.db).await?;
        let claimed = processed_event::Entity::insert(processed_event::ActiveModel {
            event_id: Set(event_id.to_string()),
            consumer: Set(self.durable()),
            processed_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([processed_event::Column::EventId, processed_event::Column::Consumer])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if claimed == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        let delivery = Delivery { txn: &txn, outbox: &self.outbox, event_id, attempt };
        self.handler.handle(event, &delivery).await?;
        self.outbox.commit(txn).await?;
        Ok(true)
    }

    /// Copies the message to `dlq.<service>.<consumer>` with why, then terminates the original
    /// so the consumer moves on. If the copy cannot be stored, the original is retried later
    /// instead: nothing is dropped.
    async fn dead_letter(&self, message: &Message, error: &str, attempts: u32) -> Handled {
        let mut copy = HeaderMap::new();
        if let Some(original) = &message.headers {
            for (name, values) in original.iter() {
                if AsRef::<str>::as_ref(name) == headers::MSG_ID {
                    continue;
                }
                for value in values {
                    copy.append(name.clone(), value.clone());
                }
            }
        }
        let (stream, sequence) =
            message.info().map_or((String::new(), 0), |info| (info.stream.to_string(), info.stream_sequence));
        copy.insert(headers::DLQ_CONSUMER, self.durable().as_str());
        copy.insert(headers::DLQ_ERROR, truncate(error, 2048).as_str());
        copy.insert(headers::DLQ_ATTEMPTS, attempts.to_string().as_str());
        copy.insert(headers::DLQ_FAILED_AT, Utc::now().to_rfc3339().as_str());
        copy.insert(headers::DLQ_SUBJECT, message.subject.as_str());
        copy.insert(headers::DLQ_STREAM, stream.as_str());
        copy.insert(headers::DLQ_STREAM_SEQUENCE, sequence.to_string().as_str());
        let subject = format!("dlq.{}.{}", self.broker.service(), self.name);
        let publish = PublishMessage::build()
            .payload(message.payload.clone())
            .headers(copy)
            .message_id(format!("dlq:{}:{stream}:{sequence}", self.durable()));
        let stored = match self.broker.jetstream().send_publish(subject, publish).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(anyhow::Error::new),
            Err(e) => Err(anyhow::Error::new(e)),
        };
        match stored {
            Ok(()) => {
                tracing::warn!(consumer = self.name, attempts, error, "message dead-lettered");
                ack(message, AckKind::Term).await;
                Handled::DeadLettered
            }
            Err(e) => {
                tracing::warn!(
                    consumer = self.name,
                    error = format!("{e:#}"),
                    "cannot dead-letter yet; redelivering later"
                );
                ack(message, AckKind::Nak(Some(self.broker.config().backoff_after(1)))).await;
                Handled::Retried
            }
        }
    }
}

/// Acks (of any kind) are confirmed by the server, so that a shutdown after the last one
/// leaves nothing to be redelivered.
async fn ack(message: &Message, kind: AckKind) {
    let result = match kind {
        AckKind::Ack => message.double_ack().await,
        other => message.ack_with(other).await,
    };
    if let Err(e) = result {
        // The message comes back after ack_wait; idempotency makes that harmless.
        tracing::debug!(error = %e, "ack not confirmed");
    }
}

/// ±20 %, so a burst of failures does not come back in one burst.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(0.8 + rand::random::<f64>() * 0.4)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
