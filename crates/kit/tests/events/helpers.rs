use std::{sync::Arc, time::Duration};

use mercato_kit::{
    Secret, Shutdown,
    db::{self, DatabaseConfig},
    events::{Broker, Delivery, Event, Events, EventsConfig, Handler, HandlerError, StreamSpec},
    nats::{NatsAuth, NatsConfig},
    testing::{Backend, TestDatabase, TestNats, effects},
};
use sea_orm::{DatabaseConnection, FromQueryResult};
use tokio::task::JoinHandle;

pub(crate) const STREAM: StreamSpec = StreamSpec { name: "KITTEST", subjects: &["kittest.v1.>"] };

/// The event the tests publish: `n` numbers it, `key` is its aggregate.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Thing {
    #[prost(string, tag = "1")]
    pub(crate) key: String,
    #[prost(int64, tag = "2")]
    pub(crate) n: i64,
}

impl Event for Thing {
    const SUBJECT: &'static str = "kittest.v1.thing_happened";
    const TYPE: &'static str = "mercato.kittest.v1.Thing";
    fn aggregate(&self) -> String {
        self.key.clone()
    }
}

use mercato_kit::testing::effects::m0001_effects;

mercato_kit::migrator!(m0001_effects);

/// Settings small enough that retries and dead letters happen within a test.
pub(crate) fn fast_config() -> EventsConfig {
    EventsConfig {
        ack_wait: Duration::from_secs(2),
        max_deliver: 3,
        backoff: vec![Duration::from_millis(50)],
        poll_interval: Duration::from_millis(100),
        batch: 64,
        ..EventsConfig::default()
    }
}

/// One service's worth of events: a database with the kit's tables and `effects`, a broker on
/// the test's own nats-server, and the workers the test starts.
pub(crate) struct Harness {
    pub(crate) db: DatabaseConnection,
    pub(crate) events: Events,
    pub(crate) nats: TestNats,
    /// Where `events` registered its metrics.
    pub(crate) registry: prometheus::Registry,
    workers: Vec<(Shutdown, JoinHandle<anyhow::Result<()>>)>,
    _database: TestDatabase,
}

impl Harness {
    pub(crate) async fn new(backend: Backend) -> Self {
        Self::with_config(backend, fast_config()).await
    }

    pub(crate) async fn with_config(backend: Backend, config: EventsConfig) -> Self {
        let nats = TestNats::start().await.unwrap();
        let database = TestDatabase::create(backend).await.unwrap();
        let db = db::connect(&DatabaseConfig {
            url: Secret::new(database.url().to_string()),
            max_connections: 10,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        })
        .await
        .unwrap();
        db::migrate::<Migrator>(&db).await.unwrap();
        let registry = prometheus::Registry::new();
        let events = Self::events_registered(&nats, &db, config, &registry).await;
        Self { db, events, nats, registry, workers: Vec::new(), _database: database }
    }

    /// Another replica's events over the same database and broker.
    pub(crate) async fn events_on(nats: &TestNats, db: &DatabaseConnection, config: EventsConfig) -> Events {
        Self::events_registered(nats, db, config, &prometheus::Registry::new()).await
    }

    async fn events_registered(
        nats: &TestNats,
        db: &DatabaseConnection,
        config: EventsConfig,
        registry: &prometheus::Registry,
    ) -> Events {
        let nats_config = NatsConfig { servers: vec![nats.url()], auth: NatsAuth::None };
        let broker = Broker::connect(&nats_config, config, "kittest", "0.0.0").await.unwrap();
        Events::new(broker, db.clone(), registry, vec![STREAM])
    }

    /// The metrics as /metrics shows them.
    pub(crate) fn metrics(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap()
    }

    pub(crate) fn spawn(
        &mut self,
        worker: impl FnOnce(Shutdown) -> futures::future::BoxFuture<'static, anyhow::Result<()>>,
    ) -> usize {
        let stop = Shutdown::new();
        let task = tokio::spawn(worker(stop.clone()));
        self.workers.push((stop, task));
        self.workers.len() - 1
    }

    pub(crate) fn spawn_relay(&mut self) -> usize {
        let relay = self.events.relay();
        self.spawn(move |stop| Box::pin(relay.run(stop)))
    }

    pub(crate) fn spawn_consumer(&mut self, name: &'static str, handler: Record) -> usize {
        let worker = self.events.consumer::<Thing, _>(name, STREAM.name, handler);
        self.spawn(worker)
    }

    /// Signals one worker and waits for it to return.
    pub(crate) async fn stop_worker(&mut self, index: usize) {
        let (stop, task) = &mut self.workers[index];
        stop.trigger();
        tokio::time::timeout(Duration::from_secs(20), task).await.expect("worker stops in time").unwrap().unwrap();
    }

    /// Commits `things` in one transaction through the outbox.
    pub(crate) async fn commit(&self, things: impl IntoIterator<Item = Thing>) {
        let txn = db::begin_write(&self.db).await.unwrap();
        for thing in things {
            self.events.outbox().publish(&txn, &thing).await.unwrap();
        }
        self.events.outbox().commit(txn).await.unwrap();
    }

    /// (effects, distinct events with an effect)
    pub(crate) async fn effects(&self) -> (i64, i64) {
        #[derive(FromQueryResult)]
        struct Counts {
            total: i64,
            distinct_events: i64,
        }
        let sql = "SELECT COUNT(*) AS total, COUNT(DISTINCT event_id) AS distinct_events FROM effects";
        let stmt = sea_orm::Statement::from_string(self.db.get_database_backend(), sql);
        let counts = Counts::find_by_statement(stmt).one(&self.db).await.unwrap().unwrap();
        (counts.total, counts.distinct_events)
    }

    pub(crate) async fn effect_numbers(&self) -> Vec<i64> {
        #[derive(FromQueryResult)]
        struct Row {
            n: i64,
        }
        let stmt = sea_orm::Statement::from_string(self.db.get_database_backend(), "SELECT n FROM effects ORDER BY n");
        Row::find_by_statement(stmt).all(&self.db).await.unwrap().into_iter().map(|r| r.n).collect()
    }
}

pub(crate) fn things(range: std::ops::Range<i64>) -> Vec<Thing> {
    range.map(|n| Thing { key: format!("key-{}", n % 7), n }).collect()
}

/// A handler that records each event as a row of `effects`, and can be told to fail.
#[derive(Clone, Default)]
pub(crate) struct Record {
    /// Numbers whose handling always fails, transiently.
    pub(crate) always_fails: Vec<i64>,
    /// How long each handling takes.
    pub(crate) delay: Duration,
    /// One number whose handling takes this long (the others keep `delay`).
    pub(crate) slow: Option<(i64, Duration)>,
    pub(crate) started: Arc<std::sync::atomic::AtomicUsize>,
    /// Once set, nothing fails any more (the bug was fixed).
    pub(crate) fixed: Arc<std::sync::atomic::AtomicBool>,
    /// The numbers each `prepare` call was given, one list per transaction.
    pub(crate) prepared: Arc<std::sync::Mutex<Vec<Vec<i64>>>>,
    /// Handlings of an event that no `prepare` had been given first.
    pub(crate) unprepared: Arc<std::sync::atomic::AtomicUsize>,
    /// How many times each number's `on_commit` effect ran.
    pub(crate) committed: Arc<std::sync::Mutex<std::collections::BTreeMap<i64, usize>>>,
}

impl Handler<Thing> for Record {
    async fn prepare(&self, events: &[&Thing], _txn: &sea_orm::DatabaseTransaction) -> Result<(), HandlerError> {
        self.prepared.lock().unwrap().push(events.iter().map(|e| e.n).collect());
        Ok(())
    }

    async fn handle(&self, event: Thing, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        self.started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if !self.prepared.lock().unwrap().iter().any(|batch| batch.contains(&event.n)) {
            self.unprepared.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        // Held back before anything can fail, so that a handling that fails has one too.
        let (committed, n) = (self.committed.clone(), event.n);
        delivery.on_commit(move || *committed.lock().unwrap().entry(n).or_default() += 1);
        if self.always_fails.contains(&event.n) && !self.fixed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(HandlerError::Transient(anyhow::anyhow!("thing {} always fails", event.n)));
        }
        let delay = match self.slow {
            Some((n, slow)) if n == event.n => slow,
            _ => self.delay,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        effects::record(delivery.txn, delivery.event_id, event.n).await?;
        Ok(())
    }
}
