//! The outbox relay: publishes committed outbox rows to JetStream, awaits the acks, marks the
//! rows sent. One step ([`Relay::relay_once`]) is the unit tests drive; [`Relay::run`] only
//! waits, backs off and watches shutdown.
//!
//! - PostgreSQL: any number of replicas relay at once. Each claims a batch with `FOR UPDATE
//!   SKIP LOCKED` and publishes only the rows that no older unsent row of their aggregate
//!   outside its batch precedes, so per aggregate events leave in commit order even when two
//!   relays race.
//! - SQLite: one relay publishes, the holder of a lease (`outbox_lease`) renewed as it works;
//!   another process on the same file stands by and takes over when the lease lapses.
//! - A crash between publishing and marking re-publishes the rows: JetStream drops them by
//!   `Nats-Msg-Id` within the duplicate window.
//! - Within one round, rows of different aggregates are published pipelined, rows of one
//!   aggregate one after another (each once its predecessor's ack is in): a row whose publish
//!   failed holds back its aggregate's successors until a later round, so a consumer sees every
//!   aggregate in commit order even across failures.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::{
    HeaderMap,
    jetstream::{context::PublishErrorKind, message::PublishMessage},
};
use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, LockBehavior, LockType},
};
use tokio::{sync::Notify, time::Instant};
use tracing::Instrument as _;

use crate::trace;

use super::{
    Broker, StreamSpec,
    broker::DLQ_STREAM,
    headers,
    metrics::EventMetrics,
    migration::entity::{outbox, outbox_lease},
    retry::Failures,
};
use crate::{db, shutdown::Shutdown};

/// How long a SQLite relay's lease lasts without renewal; another process takes over after it.
const LEASE: Duration = Duration::from_secs(10);
const LEASE_NAME: &str = "relay";
/// Failure backoff: from this, doubling, to the cap, with full jitter.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// Housekeeping (gauges, pruning) runs at most this often.
const GAUGES_EVERY: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// On shutdown the relay keeps publishing until the outbox is empty, for at most this many
/// rounds (the lifecycle's deadline bounds it too).
const FLUSH_ROUNDS: usize = 64;

/// What one relay round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Rows published and marked sent.
    pub published: usize,
    /// A full batch: more rows may be waiting, go again at once.
    pub more: bool,
    /// Another relay holds the lease (SQLite); nothing was tried.
    pub standby: bool,
}

/// See the module docs.
#[derive(Debug)]
pub struct Relay {
    db: DatabaseConnection,
    broker: Broker,
    wake: Arc<Notify>,
    streams: Vec<StreamSpec>,
    holder: String,
    lease_until: Mutex<Option<Instant>>,
    metrics: EventMetrics,
}

/// What one wave of publishes did.
#[derive(Default)]
struct Wave {
    acked: Vec<i64>,
    /// The aggregates (queue indexes) whose row failed.
    failed: Vec<usize>,
    failure: Option<anyhow::Error>,
    /// The failure was the broker's: stop the round.
    broker_down: bool,
}

#[derive(Debug, FromQueryResult)]
struct Head {
    aggregate: String,
    head: i64,
}

#[derive(Debug, FromQueryResult)]
struct Backlog {
    unsent: i64,
    oldest: Option<chrono::DateTime<Utc>>,
}

impl Relay {
    pub(crate) fn new(
        db: DatabaseConnection,
        broker: Broker,
        wake: Arc<Notify>,
        streams: Vec<StreamSpec>,
        metrics: EventMetrics,
    ) -> Self {
        let holder = format!("{}-{}", broker.service(), crate::domain::new_uuid());
        Self { db, broker, wake, streams, holder, lease_until: Mutex::new(None), metrics }
    }

    /// One round: claim, publish, await acks, mark sent.
    pub async fn relay_once(&self) -> anyhow::Result<Outcome> {
        let result = match self.db.get_database_backend() {
            DatabaseBackend::Postgres => self.round_postgres().await,
            _ => self.round_sqlite().await,
        };
        if result.is_err() {
            self.metrics.outbox_failures.inc();
        }
        result
    }

    async fn round_postgres(&self) -> anyhow::Result<Outcome> {
        let batch = self.broker.config.batch;
        // A plain BEGIN on PostgreSQL, as `db.begin()` is, and timed with the other transactions.
        let txn = db::begin_write(&self.db).await?;
        // Every row marked sent leaves a dead entry in the unsent indexes until VACUUM gets
        // to it. A bitmap scan (what the planner picks for "a few unsent rows") visits the
        // heap for each of them, every round, so rounds slow down as sends pile up; a plain
        // index scan marks them dead in the index the first time and skips them after.
        // (Together with the partial index on unsent ids; see the kit's migration m0002.)
        txn.execute_unprepared("SET LOCAL enable_bitmapscan = off").await?;
        let rows = outbox::Entity::find()
            .filter(outbox::Column::SentAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(u64::try_from(batch).unwrap_or(u64::MAX))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(Outcome::default());
        }
        let aggregates: Vec<&str> =
            rows.iter().map(|r| r.aggregate.as_str()).collect::<HashSet<_>>().into_iter().collect();
        let newest = rows.iter().map(|r| r.id).max().unwrap_or(0);
        // A plain read sees the unsent rows other relays hold: a row may go only if no older
        // unsent row of its aggregate is outside this batch (another relay's, or one this
        // batch skipped because another relay had it locked).
        let blockers: HashMap<String, i64> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Aggregate)
            .column_as(outbox::Column::Id.min(), "head")
            .filter(outbox::Column::SentAt.is_null())
            .filter(outbox::Column::Aggregate.is_in(aggregates))
            // Only older rows can block; with one relay those are all in this batch, so the
            // query reads the batch's own rows, not the whole backlog behind it.
            .filter(outbox::Column::Id.lt(newest))
            .filter(outbox::Column::Id.is_not_in(rows.iter().map(|r| r.id)))
            .group_by(outbox::Column::Aggregate)
            .into_model::<Head>()
            .all(&txn)
            .await?
            .into_iter()
            .map(|h| (h.aggregate, h.head))
            .collect();
        let publishable: Vec<&outbox::Model> =
            rows.iter().filter(|r| blockers.get(&r.aggregate).is_none_or(|blocker| r.id < *blocker)).collect();
        let (sent, failure) = self.publish(&publishable).await;
        mark_sent(&txn, &sent).await?;
        txn.commit().await?;
        self.outcome(sent.len(), failure, rows.len() == batch)
    }

    async fn round_sqlite(&self) -> anyhow::Result<Outcome> {
        if !self.hold_lease().await? {
            return Ok(Outcome { standby: true, ..Outcome::default() });
        }
        let batch = self.broker.config.batch;
        let rows = outbox::Entity::find()
            .filter(outbox::Column::SentAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(u64::try_from(batch).unwrap_or(u64::MAX))
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Ok(Outcome::default());
        }
        let all: Vec<&outbox::Model> = rows.iter().collect();
        let (sent, failure) = self.publish(&all).await;
        // Publishing happened outside any transaction: SQLite has one writer, and the
        // service's own writes must not wait on the broker.
        let txn = db::begin_write(&self.db).await?;
        mark_sent(&txn, &sent).await?;
        txn.commit().await?;
        self.outcome(sent.len(), failure, rows.len() == batch)
    }

    /// A round's result once its marks are committed: the rows published count even when a
    /// later one failed.
    fn outcome(&self, published: usize, failure: Option<anyhow::Error>, full_batch: bool) -> anyhow::Result<Outcome> {
        self.metrics.outbox_published.inc_by(u64::try_from(published).unwrap_or(0));
        match failure {
            Some(e) => Err(e),
            // A full batch of which nothing could go (other relays hold the heads of its
            // aggregates) is no reason to go again at once: that would spin until they finish.
            None => Ok(Outcome { published, more: full_batch && published > 0, standby: false }),
        }
    }

    /// Takes or renews the SQLite lease; renewal is skipped while more than half of it is left.
    async fn hold_lease(&self) -> Result<bool, DbErr> {
        if let Ok(until) = self.lease_until.lock()
            && until.is_some_and(|until| until > Instant::now() + LEASE / 2)
        {
            return Ok(true);
        }
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let txn = db::begin_write(&self.db).await?;
        let current = outbox_lease::Entity::find_by_id(LEASE_NAME).one(&txn).await?;
        let mine = match current {
            None => {
                outbox_lease::Entity::insert(outbox_lease::ActiveModel {
                    name: sea_orm::ActiveValue::Set(LEASE_NAME.into()),
                    holder: sea_orm::ActiveValue::Set(self.holder.clone()),
                    expires_at: sea_orm::ActiveValue::Set(expires),
                })
                .exec_without_returning(&txn)
                .await?;
                true
            }
            Some(lease) if lease.holder == self.holder || lease.expires_at < now => {
                outbox_lease::Entity::update_many()
                    .col_expr(outbox_lease::Column::Holder, Expr::value(self.holder.clone()))
                    .col_expr(outbox_lease::Column::ExpiresAt, Expr::value(expires))
                    .filter(outbox_lease::Column::Name.eq(LEASE_NAME))
                    .exec(&txn)
                    .await?;
                true
            }
            Some(_) => false,
        };
        txn.commit().await?;
        if let Ok(mut until) = self.lease_until.lock() {
            *until = mine.then(|| Instant::now() + LEASE);
        }
        Ok(mine)
    }

    /// Publishes `rows` (in id order) in waves: wave k holds the k-th row of each aggregate,
    /// pipelined, and its acks are awaited before the next wave goes. So a row is never sent
    /// before its predecessor of the same aggregate is in the stream, and a failed row stops
    /// its aggregate (its successors wait for the next round) while the others go on.
    /// Returns the ids acknowledged, and the first failure.
    async fn publish(&self, rows: &[&outbox::Model]) -> (Vec<i64>, Option<anyhow::Error>) {
        let mut queues: Vec<VecDeque<&outbox::Model>> = Vec::new();
        let mut queue_of: HashMap<&str, usize> = HashMap::new();
        for row in rows {
            let index = *queue_of.entry(row.aggregate.as_str()).or_insert_with(|| {
                queues.push(VecDeque::new());
                queues.len() - 1
            });
            queues[index].push_back(row);
        }
        let mut sent = Vec::with_capacity(rows.len());
        let mut failure = None;
        loop {
            let wave: Vec<(usize, &outbox::Model)> =
                queues.iter_mut().enumerate().filter_map(|(i, q)| q.pop_front().map(|row| (i, row))).collect();
            if wave.is_empty() {
                break;
            }
            let outcome = self.publish_wave(&wave).await;
            sent.extend(outcome.acked);
            for queue in outcome.failed {
                queues[queue].clear();
            }
            if let Some(e) = outcome.failure {
                failure.get_or_insert(e);
            }
            if outcome.broker_down {
                break;
            }
        }
        (sent, failure)
    }

    /// One wave: rows of distinct aggregates, sent pipelined, then every ack awaited.
    async fn publish_wave(&self, wave: &[(usize, &outbox::Model)]) -> Wave {
        let js = self.broker.jetstream();
        let mut result = Wave::default();
        let mut pending = Vec::with_capacity(wave.len());
        for (queue, row) in wave {
            let (headers, span) = event_headers(row);
            let message = PublishMessage::build()
                .payload(row.payload.clone().into())
                .headers(headers)
                .message_id(row.event_id.as_str());
            match js.send_publish(row.subject.clone(), message).instrument(span.clone()).await {
                Ok(ack) => pending.push((*queue, row.id, ack, span)),
                Err(e) => {
                    // Nothing more can be sent on this connection now; the rest of the
                    // wave (and its aggregates' successors) waits for the next round.
                    result.failure = Some(anyhow::Error::new(e).context(format!("publishing {}", row.subject)));
                    result.broker_down = true;
                    break;
                }
            }
        }
        for (queue, id, ack, span) in pending {
            match ack.await {
                Ok(_) => result.acked.push(id),
                Err(e) => {
                    span.record("otel.status_code", "error");
                    // A timeout or a broken connection is the broker's, not this row's: the
                    // next wave would only wait as long again.
                    let kind = e.kind();
                    result.broker_down |= matches!(kind, PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe);
                    result.failed.push(queue);
                    result.failure.get_or_insert(anyhow::Error::new(e).context("awaiting the JetStream ack"));
                }
            }
        }
        result
    }

    /// Gauges and pruning, each at most at its own pace.
    async fn housekeeping(&self, last_gauges: &mut Instant, last_prune: &mut Instant) {
        if last_gauges.elapsed() >= GAUGES_EVERY {
            *last_gauges = Instant::now();
            self.update_gauges().await;
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            *last_prune = Instant::now();
            if let Err(e) = self.prune().await {
                tracing::warn!(error = %e, "pruning the outbox failed");
            }
        }
    }

    /// Sets the backlog and oldest-unsent-age gauges from the table.
    pub async fn update_gauges(&self) {
        let backlog = outbox::Entity::find()
            .select_only()
            .column_as(outbox::Column::Id.count(), "unsent")
            .column_as(outbox::Column::CreatedAt.min(), "oldest")
            .filter(outbox::Column::SentAt.is_null())
            .into_model::<Backlog>()
            .one(&self.db)
            .await;
        if let Ok(Some(backlog)) = backlog {
            self.metrics.outbox_backlog.set(backlog.unsent);
            let age = backlog.oldest.map_or(0.0, |at| (Utc::now() - at).as_seconds_f64().max(0.0));
            self.metrics.outbox_oldest_unsent_seconds.set(age);
        }
    }

    /// Deletes rows sent longer ago than `OUTBOX_RETENTION`; returns how many.
    pub async fn prune(&self) -> Result<u64, DbErr> {
        let cutoff = Utc::now() - chrono::Duration::from_std(self.broker.config.retention).unwrap_or_default();
        let done = outbox::Entity::delete_many().filter(outbox::Column::SentAt.lt(cutoff)).exec(&self.db).await?;
        if done.rows_affected > 0 {
            tracing::debug!(pruned = done.rows_affected, "sent outbox rows pruned");
        }
        Ok(done.rows_affected)
    }

    /// Provisions the service's streams (and the dead-letter stream), then relays until
    /// `stop`; then flushes what is committed and returns.
    pub async fn run(self, stop: Shutdown) -> anyhow::Result<()> {
        let mut failures = Failures::default();
        loop {
            let provisioned = tokio::select! {
                () = stop.wait() => return Ok(()),
                provisioned = self.provision() => provisioned,
            };
            let Err(e) = provisioned else { break };
            if failures.record() {
                tracing::warn!(
                    error = format!("{e:#}"),
                    attempts = failures.count(),
                    "cannot provision streams yet; retrying"
                );
            }
            tokio::select! {
                () = stop.wait() => return Ok(()),
                () = tokio::time::sleep(backoff(failures.count())) => {}
            }
        }
        failures.reset();
        let poll = self.broker.config.poll_interval;
        let (mut last_gauges, mut last_prune) = (Instant::now() - GAUGES_EVERY, Instant::now());
        loop {
            if stop.is_triggered() {
                self.flush().await;
                return Ok(());
            }
            match self.relay_once().await {
                Ok(outcome) => {
                    let after = failures.reset();
                    if after > 0 {
                        tracing::info!(after, "outbox relay recovered");
                    }
                    if outcome.more {
                        continue;
                    }
                }
                Err(e) => {
                    if failures.record() {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            attempts = failures.count(),
                            "outbox relay failing; backing off"
                        );
                    }
                }
            }
            self.housekeeping(&mut last_gauges, &mut last_prune).await;
            let wait = if failures.count() > 0 { backoff(failures.count()) } else { poll };
            tokio::select! {
                () = stop.wait() => {}
                () = self.wake.notified(), if failures.count() == 0 => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn provision(&self) -> anyhow::Result<()> {
        for spec in self.streams.iter().copied().chain([DLQ_STREAM]) {
            self.broker.ensure_stream(spec).await?;
        }
        Ok(())
    }

    /// Publishes what is committed before the process exits, within a few rounds.
    async fn flush(&self) {
        for _ in 0..FLUSH_ROUNDS {
            match self.relay_once().await {
                Ok(outcome) if outcome.published > 0 && !outcome.standby => continue,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "could not flush the outbox; the rows stay for next start"
                    );
                    return;
                }
            }
        }
    }
}

async fn mark_sent(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    outbox::Entity::update_many()
        .col_expr(outbox::Column::SentAt, Expr::value(Utc::now()))
        .filter(outbox::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// The message headers of `row`, and the span of its publication: when its trace is sampled, a
/// child of the span that wrote the row (whose context the row stored), and the context the
/// message carries to its consumers.
fn event_headers(row: &outbox::Model) -> (HeaderMap, tracing::Span) {
    let mut headers = HeaderMap::new();
    headers.insert(headers::EVENT_ID, row.event_id.as_str());
    headers.insert(headers::EVENT_TYPE, row.event_type.as_str());
    let extra = match serde_json::from_str::<serde_json::Value>(&row.headers) {
        Ok(serde_json::Value::Object(extra)) => extra,
        _ => serde_json::Map::new(),
    };
    for (name, value) in &extra {
        if let Some(value) = value.as_str() {
            headers.insert(name.as_str(), value);
        }
    }
    let parent = trace::extract(&trace::propagate::Stored(&extra));
    if !trace::sampled(&parent) {
        return (headers, tracing::Span::none());
    }
    let span = tracing::info_span!(
        target: trace::TARGET,
        "publish",
        otel.name = %format_args!("send {}", row.subject),
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "nats",
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = row.subject.as_str(),
        messaging.message.id = row.event_id.as_str(),
        messaging.message.conversation_id = row.aggregate.as_str(),
        event_type = row.event_type.as_str(),
    );
    trace::set_parent(&span, parent);
    for (name, value) in trace::propagate::context_of(&span) {
        headers.insert(name, value.as_str());
    }
    (headers, span)
}

/// Exponential backoff with full jitter: a random delay up to `start × 2^(failures-1)`,
/// capped, so relays of many replicas do not retry in step.
fn backoff(failures: u32) -> Duration {
    crate::backoff::full_jitter(crate::backoff::exponential(BACKOFF_START, BACKOFF_CAP, failures))
        .max(Duration::from_millis(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        for failures in 1..40 {
            let delay = backoff(failures);
            assert!(delay <= BACKOFF_CAP, "{delay:?}");
            assert!(delay >= Duration::from_millis(10));
        }
        let ceiling_first = BACKOFF_START;
        assert!((0..50).map(|_| backoff(1)).all(|d| d <= ceiling_first));
    }
}
