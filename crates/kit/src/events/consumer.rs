//! Durable consumers: each message is handled once, in a transaction that also records it in
//! `processed_events`; failures are classified, retried with backoff, or dead-lettered.
//!
//! One step ([`Consumer::process_batch`]) handles the messages that arrived together, in one
//! transaction; the worker only pulls, keeps up to `CONSUMER_IN_FLIGHT` messages in flight
//! and, on shutdown, stops pulling and lets the steps in flight finish and ack.

use std::{collections::HashSet, future::Future, sync::Arc, time::Duration};

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
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    sea_query::{OnConflict, Query},
};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::{
    Broker, Event, Outbox, broker::dlq_subject, headers, metrics::EventMetrics, migration::entity::processed_event,
    retry::Failures, scope,
};
use crate::{db, shutdown::Shutdown, trace};

/// How long a stopping consumer waits to send its last acks.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// What a handler gets besides the event: the transaction its effects go into (and, through
/// the outbox, the events they cause), and where the message came from.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub txn: &'a DatabaseTransaction,
    pub outbox: &'a Outbox,
    pub event_id: &'a str,
    /// 1 on first delivery.
    pub attempt: u32,
    after_commit: &'a AfterCommit,
}

impl Delivery<'_> {
    /// Runs `effect` once the transaction has committed, and never if it rolls back: for what
    /// lives outside the database, such as a business counter on /metrics, which a batch
    /// rolled back and handled again message by message would otherwise count twice.
    pub fn on_commit(&self, effect: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(effect));
    }
}

/// The effects [`Delivery::on_commit`] holds back until the commit.
#[derive(Default)]
struct AfterCommit(std::sync::Mutex<Vec<Box<dyn FnOnce() + Send>>>);

impl std::fmt::Debug for AfterCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.lock().map_or(0, |effects| effects.len());
        f.debug_struct("AfterCommit").field("held", &held).finish()
    }
}

impl AfterCommit {
    fn push(&self, effect: Box<dyn FnOnce() + Send>) {
        // A poisoned lock means an effect panicked while being pushed; the rest still count.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(effect);
    }

    fn run(self) {
        for effect in self.0.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
            effect();
        }
    }
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
///
/// Its effects go into `delivery.txn` and nowhere else: messages that arrive together share
/// one transaction, and when one of them fails the whole batch is rolled back and each is
/// handled again on its own — so a handler can run more than once for an event, but its
/// effects are committed once.
pub trait Handler<E: Event>: Send + Sync + 'static {
    fn handle(&self, event: E, delivery: &Delivery<'_>) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Runs once per transaction, before the handlers of the events it holds: where those
    /// handlers lock rows that other transactions lock too, this is the place to lock all of
    /// them at once in one global order ([`crate::db::lock_in_order`]), so that two batches
    /// touching the same rows queue behind each other instead of deadlocking.
    fn prepare(
        &self,
        _events: &[&E],
        _txn: &DatabaseTransaction,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async { Ok(()) }
    }
}

/// A message that passed [`Consumer::admit`]: decoded, with its id.
struct Ready<E> {
    event: E,
    event_id: String,
    attempt: u32,
    correlation: scope::Correlation,
    /// The span of handling it (a child of the publication's), when tracing is on.
    span: tracing::Span,
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
    events.metrics.add_consumer(name, stream);
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
    fn durable(&self) -> String {
        durable_name(self.broker.service(), self.name)
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
        let result = self.consume(stop).await;
        // A flush waits for a connection, and the broker may be away: then the acks are lost
        // anyway, and shutdown must not wait for it.
        let flushed = tokio::time::timeout(FLUSH_TIMEOUT, self.broker.client().flush()).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!(consumer = self.name, "acks not flushed; those messages come back after CONSUMER_ACK_WAIT");
        }
        result
    }

    async fn consume(&self, stop: Shutdown) -> anyhow::Result<()> {
        let mut failures = Failures::default();
        let config = self.broker.config();
        let (in_flight, batch, concurrent) = (config.in_flight, config.consumer_batch, config.concurrent_batches());
        loop {
            if stop.is_triggered() {
                return Ok(());
            }
            // With the broker away each request waits for its timeout: shutdown must not.
            let pulling = async {
                let consumer = self.ensure().await?;
                anyhow::Ok(consumer.stream().max_messages_per_batch(in_flight).messages().await?)
            };
            let messages = tokio::select! {
                () = stop.wait() => return Ok(()),
                messages = pulling => messages,
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
            // Stop pulling at shutdown; the messages in flight finish and ack first. Whatever
            // has arrived when a transaction can start goes into it, up to `batch`.
            messages
                .take_until(stop.wait())
                .ready_chunks(batch)
                .for_each_concurrent(concurrent, |pulled| async {
                    let mut messages = Vec::with_capacity(pulled.len());
                    for message in pulled {
                        match message {
                            Ok(message) => messages.push(message),
                            Err(e) => tracing::debug!(consumer = self.name, error = %e, "pull interrupted"),
                        }
                    }
                    self.process_batch(messages).await;
                })
                .await;
        }
    }

    /// Handles one message to the end: ack, NAK with a delay, or dead letter.
    pub(crate) async fn process(&self, message: Message) -> Handled {
        let started = Instant::now();
        self.count_delivery(&message);
        let outcome = self.outcome(&message).await;
        self.count(outcome, started);
        outcome
    }

    /// Counted once per delivery, where it arrives: not in `admit`, which a message of a batch
    /// rolled back goes through twice.
    fn count_delivery(&self, message: &Message) {
        if attempt(message) > 1 {
            self.metrics.redeliveries.with_label_values(&[self.name]).inc();
        }
    }

    fn count(&self, outcome: Handled, started: Instant) {
        self.metrics.consumed.with_label_values(&[self.name, outcome.label()]).inc();
        self.metrics.handling_seconds.with_label_values(&[self.name]).observe(started.elapsed().as_secs_f64());
    }

    /// Handles several messages in one transaction, so that they share its commit. The
    /// batch is all or nothing: if any handler fails (or the commit does), it is rolled back
    /// and each message is handled alone, so that one bad message neither takes the others'
    /// effects with it nor hides which of them failed.
    pub(crate) async fn process_batch(&self, messages: Vec<Message>) -> Vec<Handled> {
        let started = Instant::now();
        if messages.len() <= 1 {
            let mut outcomes = Vec::with_capacity(1);
            for message in messages {
                outcomes.push(self.process(message).await);
            }
            return outcomes;
        }
        let mut outcomes = Vec::with_capacity(messages.len());
        let (mut admitted, mut ready) = (Vec::with_capacity(messages.len()), Vec::with_capacity(messages.len()));
        let mut ids = HashSet::with_capacity(messages.len());
        for message in messages {
            self.count_delivery(&message);
            match self.admit(&message).await {
                // The same event twice in one batch (a republish and its original): the
                // first one's effect covers both.
                Ok(one) if !ids.insert(one.event_id.clone()) => {
                    ack(&message, AckKind::Ack).await;
                    outcomes.push(Handled::Duplicate);
                }
                Ok(one) => {
                    admitted.push(message);
                    ready.push(one);
                }
                Err(outcome) => outcomes.push(outcome),
            }
        }
        match self.handle(&ready).await {
            Ok(claimed) => {
                let claimed = &claimed;
                let acks = admitted.iter().zip(&ready).map(|(message, one)| async move {
                    ack(message, AckKind::Ack).await;
                    if claimed.contains(&one.event_id) { Handled::Processed } else { Handled::Duplicate }
                });
                outcomes.extend(futures::future::join_all(acks).await);
            }
            Err(e) => {
                tracing::debug!(consumer = self.name, error = %e, size = admitted.len(), "batch rolled back; handling its messages one by one");
                self.metrics.batch_rollbacks.with_label_values(&[self.name]).inc();
                for message in &admitted {
                    outcomes.push(self.outcome(message).await);
                }
            }
        }
        for outcome in &outcomes {
            self.count(*outcome, started);
        }
        outcomes
    }

    async fn outcome(&self, message: &Message) -> Handled {
        let ready = match self.admit(message).await {
            Ok(ready) => ready,
            Err(outcome) => return outcome,
        };
        let result = self.handle(std::slice::from_ref(&ready)).await.map(|claimed| !claimed.is_empty());
        if result.is_err() {
            ready.span.record("otel.status_code", "error");
        }
        self.settle(message, result, &ready.event_id, ready.attempt).await
    }

    /// The checks that need no database: a replay meant for another consumer, attempts
    /// exhausted, headers, type and payload. `Err`: the message has been acked or
    /// dead-lettered already.
    async fn admit(&self, message: &Message) -> Result<Ready<E>, Handled> {
        let attempt = attempt(message);
        let headers = message.headers.clone().unwrap_or_default();
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
        if let Some(target) = header(headers::REPLAY_FOR)
            && target != self.durable()
        {
            ack(message, AckKind::Ack).await;
            return Err(Handled::Skipped);
        }
        if attempt > self.broker.config().max_deliver {
            return Err(self
                .dead_letter(message, "delivery attempts exhausted (no ack within CONSUMER_ACK_WAIT)", attempt)
                .await);
        }
        let Some(event_id) = header(headers::EVENT_ID).or_else(|| header(headers::MSG_ID)) else {
            return Err(self.dead_letter(message, "no event id header", attempt).await);
        };
        match header(headers::EVENT_TYPE) {
            Some(kind) if kind == E::TYPE => {}
            other => {
                let reason = format!("expected {}, got {}", E::TYPE, other.as_deref().unwrap_or("no type header"));
                return Err(self.dead_letter(message, &reason, attempt).await);
            }
        }
        let event = match E::decode(message.payload.clone()) {
            Ok(event) => event,
            Err(e) => return Err(self.dead_letter(message, &format!("undecodable {}: {e}", E::TYPE), attempt).await),
        };
        let correlation =
            scope::Correlation { request_id: header(headers::REQUEST_ID), traceparent: header(headers::TRACEPARENT) };
        let span = self.span(message, &headers, &event, &event_id, attempt);
        Ok(Ready { event, event_id, attempt, correlation, span })
    }

    /// The span of handling one message (semantic conventions for messaging), continuing the
    /// trace its headers carry; `Span::none()` unless that trace is sampled.
    fn span(
        &self,
        message: &Message,
        headers: &async_nats::HeaderMap,
        event: &E,
        event_id: &str,
        attempt: u32,
    ) -> tracing::Span {
        let parent = trace::extract(&trace::propagate::NatsHeaders(headers));
        if !trace::sampled(&parent) {
            return tracing::Span::none();
        }
        let span = tracing::info_span!(
            target: trace::TARGET,
            "consume",
            otel.name = %format_args!("process {}", message.subject),
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
            messaging.system = "nats",
            messaging.operation.type = "process",
            messaging.destination.name = message.subject.as_str(),
            messaging.consumer.group.name = self.durable(),
            messaging.message.id = event_id,
            messaging.message.conversation_id = event.aggregate(),
            event_type = E::TYPE,
            attempt,
        );
        trace::set_parent(&span, parent);
        span
    }

    /// Acks, retries or dead-letters a message after its handler ran (`Ok(false)`: it had
    /// been processed before).
    async fn settle(
        &self,
        message: &Message,
        result: Result<bool, HandlerError>,
        event_id: &str,
        attempt: u32,
    ) -> Handled {
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
            Err(HandlerError::Transient(e)) if attempt >= self.broker.config().max_deliver => {
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

    /// Claims every event of `batch` in one statement, runs the handlers of those claimed
    /// and commits once: one write transaction, whether the batch is one message or many.
    /// Returns the ids claimed (the rest had been processed before; nothing was done).
    async fn handle(&self, batch: &[Ready<E>]) -> Result<HashSet<String>, HandlerError> {
        if batch.is_empty() {
            // Every message of the batch was settled by `admit`: no transaction to open.
            return Ok(HashSet::new());
        }
        let txn = db::begin_write(&self.db).await?;
        let claimed = self.claim(&txn, batch.iter().map(|ready| ready.event_id.as_str())).await?;
        if claimed.is_empty() {
            txn.rollback().await?;
            return Ok(claimed);
        }
        let fresh: Vec<&Ready<E>> = batch.iter().filter(|ready| claimed.contains(&ready.event_id)).collect();
        let events: Vec<&E> = fresh.iter().map(|ready| &ready.event).collect();
        self.handler.prepare(&events, &txn).await?;
        let after_commit = AfterCommit::default();
        for ready in fresh {
            let delivery = Delivery {
                txn: &txn,
                outbox: &self.outbox,
                event_id: &ready.event_id,
                attempt: ready.attempt,
                after_commit: &after_commit,
            };
            // The event is cloned, not moved: if the batch fails, each message is handled
            // again on its own.
            scope::with(ready.correlation.clone(), self.handler.handle(ready.event.clone(), &delivery))
                .instrument(ready.span.clone())
                .await?;
        }
        self.outbox.commit(txn).await?;
        after_commit.run();
        Ok(claimed)
    }

    /// Inserts `processed_events` rows for `event_ids`, skipping those already there;
    /// returns the ids inserted.
    async fn claim<'i>(
        &self,
        txn: &DatabaseTransaction,
        event_ids: impl IntoIterator<Item = &'i str>,
    ) -> Result<HashSet<String>, HandlerError> {
        let (consumer, now) = (self.durable(), Utc::now());
        let mut insert = Query::insert();
        insert.into_table(processed_event::Entity).columns([
            processed_event::Column::EventId,
            processed_event::Column::Consumer,
            processed_event::Column::ProcessedAt,
        ]);
        for event_id in event_ids {
            insert
                .values([event_id.into(), consumer.as_str().into(), now.into()])
                .map_err(|e| HandlerError::Transient(e.into()))?;
        }
        insert
            .on_conflict(
                OnConflict::columns([processed_event::Column::EventId, processed_event::Column::Consumer])
                    .do_nothing()
                    .to_owned(),
            )
            .returning_col(processed_event::Column::EventId);
        let rows = txn.query_all(&insert).await?;
        rows.iter().map(|row| row.try_get::<String>("", "event_id").map_err(HandlerError::from)).collect()
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
        let subject = dlq_subject(self.broker.service(), self.name);
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

/// The durable name of consumer `name` of `service`: both, so it is unique per stream.
pub(crate) fn durable_name(service: &str, name: &str) -> String {
    format!("{service}-{name}")
}

/// Which delivery of its message this is: 1 on the first.
fn attempt(message: &Message) -> u32 {
    message.info().map_or(1, |info| u32::try_from(info.delivered).unwrap_or(u32::MAX))
}

/// Acks are sent, not confirmed one by one (a confirmation is a round trip per message for
/// the broker and for us); the worker flushes the connection before it returns, so the acks
/// of everything it finished have reached the server when a shutdown completes.
async fn ack(message: &Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        // The message comes back after ack_wait; idempotency makes that harmless.
        tracing::debug!(error = %e, "ack not sent");
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
