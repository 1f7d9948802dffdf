//! The events pipeline under load: committed outbox rows → relay → JetStream → a durable
//! consumer that commits its effect and `processed_events`, on a fresh database and a
//! nats-server of the bench's own. Its ceiling is the same PostgreSQL's single-row INSERT rate
//! (pgbench, 8 clients, autocommit), measured in the same run.

use std::{
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use hdrhistogram::Histogram;
use mercato_kit::{
    Secret, Shutdown,
    db::{self, DatabaseConfig},
    events::{Broker, Delivery, Event, Events, EventsConfig, Handler, HandlerError, StreamSpec},
    nats::{NatsAuth, NatsConfig},
    testing::{Backend, TestDatabase, TestNats, effects},
};
use sea_orm::{ConnectionTrait, DatabaseConnection};

const STREAM: StreamSpec = StreamSpec { name: "BENCH", subjects: &["bench.v1.>"] };

/// The benchmark's event: its number and the wall-clock time its transaction committed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Tick {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(int64, tag = "2")]
    pub committed_at_us: i64,
}

impl Event for Tick {
    const SUBJECT: &'static str = "bench.v1.tick";
    const TYPE: &'static str = "mercato.bench.v1.Tick";
    fn aggregate(&self) -> String {
        self.key.clone()
    }
}

use mercato_kit::testing::effects::m0001_effects;

mercato_kit::migrator!(m0001_effects);

/// Records each effect and, while `measuring`, its commit → handler latency.
#[derive(Clone)]
struct Effect {
    handled: Arc<AtomicU64>,
    latency_us: Arc<Mutex<Histogram<u64>>>,
}

impl Handler<Tick> for Effect {
    async fn handle(&self, tick: Tick, delivery: &Delivery<'_>) -> Result<(), HandlerError> {
        let lag = (now_us() - tick.committed_at_us).max(1);
        // The effect's number is its commit → handler latency in µs.
        effects::record(delivery.txn, delivery.event_id, lag).await?;
        self.handled.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut histogram) = self.latency_us.lock() {
            let _ = histogram.record(u64::try_from(lag).unwrap_or(1));
        }
        Ok(())
    }
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// What one backend's pipeline did.
#[derive(Debug, Clone)]
pub struct PipelineResult {
    pub backend: Backend,
    /// Events per second relayed and handled from a backlog of committed rows (the relay and
    /// the consumer alone, no writers competing).
    pub drain_events_per_second: f64,
    /// CPU of the whole machine (PostgreSQL, nats-server, relay, consumer) per event drained.
    pub drain_machine_us_per_event: f64,
    /// Of that, this process's (relay and consumer).
    pub drain_self_us_per_event: f64,
    /// Of that drain, the rate at which the relay had published the backlog (the rest of the
    /// time was the consumer catching up).
    pub relay_events_per_second: f64,
    /// Events handled per second at the writers' full speed.
    pub max_events_per_second: f64,
    /// The open-loop rate of the latency run, and its commit → handler latency.
    pub half_rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU of this process (writers, relay, consumer) per event handled at full speed.
    pub cpu_us_per_event: f64,
}

/// Runs the pipeline on `backend`: `writers` concurrent writers at full speed for `duration`
/// (after `warmup`), then at half the rate measured.
pub async fn pipeline(
    backend: Backend,
    writers: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<PipelineResult> {
    let nats = TestNats::start().await?;
    let database = TestDatabase::create(backend).await?;
    let db = db::connect(&DatabaseConfig {
        url: Secret::new(database.url().to_string()),
        max_connections: u32::try_from(writers * 2 + 8).unwrap_or(32),
        min_connections: 1,
        acquire_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(10),
    })
    .await?;
    db::migrate::<Migrator>(&db).await?;
    let config = EventsConfig {
        in_flight: 128,
        consumer_batch: 32,
        batch: 512,
        max_ack_pending: 10_000,
        ..EventsConfig::default()
    };
    let broker =
        Broker::connect(&NatsConfig { servers: vec![nats.url()], auth: NatsAuth::None }, config, "bench", "0").await?;
    let events = Events::new(broker, db.clone(), &prometheus::Registry::new(), vec![STREAM]);
    let effect = Effect {
        handled: Arc::new(AtomicU64::new(0)),
        latency_us: Arc::new(Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?)),
    };
    // A backlog first: committed rows with nothing relaying them yet.
    let target = BACKLOG / writers as u64;
    let tasks: Vec<_> = (0..writers).map(|w| tokio::spawn(write_n(db.clone(), events.clone(), w, target))).collect();
    for task in tasks {
        task.await??;
    }
    let written = target * writers as u64;
    let stop = Shutdown::new();
    let (started, machine_before, self_before) = (Instant::now(), machine_cpu(), self_cpu());
    let relay = events.relay();
    let relay_task = tokio::spawn(relay.run(stop.clone()));
    let consumer_task = tokio::spawn(events.consumer::<Tick, _>("effects", STREAM.name, effect.clone())(stop.clone()));
    let relayed = tokio::spawn(all_sent(db.clone(), started));
    drain(&effect, &db).await?;
    let drain_events_per_second = written as f64 / started.elapsed().as_secs_f64();
    let per_event = |cpu: Duration| cpu.as_secs_f64() * 1e6 / written.max(1) as f64;
    let drain_machine_us_per_event = per_event(machine_cpu().saturating_sub(machine_before));
    let drain_self_us_per_event = per_event(self_cpu().saturating_sub(self_before));
    let relay_events_per_second = written as f64 / relayed.await??.as_secs_f64();

    // Full speed: writers commit one event per transaction as fast as they can.
    let running = Shutdown::new();
    let tasks: Vec<_> =
        (0..writers).map(|w| tokio::spawn(write_loop(db.clone(), events.clone(), w, None, running.clone()))).collect();
    tokio::time::sleep(warmup).await;
    let (handled_before, cpu_before, started) = (effect.handled.load(Ordering::Relaxed), self_cpu(), Instant::now());
    tokio::time::sleep(duration).await;
    let handled = effect.handled.load(Ordering::Relaxed) - handled_before;
    let cpu = self_cpu().saturating_sub(cpu_before);
    let elapsed = started.elapsed();
    running.trigger();
    for task in tasks {
        task.await??;
    }
    let max_events_per_second = handled as f64 / elapsed.as_secs_f64();
    let cpu_us_per_event = cpu.as_secs_f64() * 1e6 / (handled.max(1) as f64);
    drain(&effect, &db).await?;

    // Half that rate, open loop: latency when the pipeline is not saturated.
    let half_rate = max_events_per_second / 2.0;
    let per_writer = Duration::from_secs_f64(writers as f64 / half_rate.max(1.0));
    let running = Shutdown::new();
    let tasks: Vec<_> = (0..writers)
        .map(|w| tokio::spawn(write_loop(db.clone(), events.clone(), w, Some(per_writer), running.clone())))
        .collect();
    tokio::time::sleep(warmup).await;
    if let Ok(mut histogram) = effect.latency_us.lock() {
        histogram.reset();
    }
    tokio::time::sleep(duration).await;
    running.trigger();
    for task in tasks {
        task.await??;
    }
    let (p50_ms, p99_ms) = match effect.latency_us.lock() {
        Ok(h) => (h.value_at_quantile(0.5) as f64 / 1000.0, h.value_at_quantile(0.99) as f64 / 1000.0),
        Err(_) => (f64::NAN, f64::NAN),
    };
    stop.trigger();
    relay_task.await??;
    consumer_task.await??;
    db.close().await?;
    drop(nats);
    Ok(PipelineResult {
        backend,
        drain_events_per_second,
        drain_machine_us_per_event,
        drain_self_us_per_event,
        relay_events_per_second,
        max_events_per_second,
        half_rate,
        p50_ms,
        p99_ms,
        cpu_us_per_event,
    })
}

/// Events committed before the relay starts, for the drain figure.
const BACKLOG: u64 = 20_000;

/// Commits `count` events, one per transaction.
async fn write_n(db: DatabaseConnection, events: Events, writer: usize, count: u64) -> anyhow::Result<()> {
    for n in 0..count {
        let txn = db::begin_write(&db).await?;
        let event = Tick { key: format!("w{writer}-{}", n % 16), committed_at_us: now_us() };
        events.outbox().publish(&txn, &event).await?;
        events.outbox().commit(txn).await?;
    }
    Ok(())
}

/// Commits one event per transaction until `stop`; paced by `every` if given.
async fn write_loop(
    db: DatabaseConnection,
    events: Events,
    writer: usize,
    every: Option<Duration>,
    stop: Shutdown,
) -> anyhow::Result<()> {
    let mut tick = every.map(tokio::time::interval);
    let mut n: u64 = 0;
    while !stop.is_triggered() {
        if let Some(interval) = &mut tick {
            tokio::select! {
                () = stop.wait() => break,
                _ = interval.tick() => {}
            }
        }
        let txn = db::begin_write(&db).await?;
        let event = Tick { key: format!("w{writer}-{}", n % 16), committed_at_us: now_us() };
        events.outbox().publish(&txn, &event).await?;
        events.outbox().commit(txn).await?;
        n += 1;
    }
    Ok(())
}

/// How long after `started` the outbox had no unsent row left.
async fn all_sent(db: DatabaseConnection, started: Instant) -> anyhow::Result<Duration> {
    let until = Instant::now() + Duration::from_secs(120);
    while count(&db, "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL").await? > 0 {
        anyhow::ensure!(Instant::now() < until, "the relay did not publish the backlog within 2 minutes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(started.elapsed())
}

/// Waits until everything committed has been handled, so the next phase starts empty.
async fn drain(effect: &Effect, db: &DatabaseConnection) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let written = count(db, "SELECT COUNT(*) AS n FROM outbox").await?;
        if effect.handled.load(Ordering::Relaxed) >= u64::try_from(written).unwrap_or(0) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < until, "the pipeline did not catch up within 2 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `n` of a `SELECT COUNT(*) AS n …`.
async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("COUNT returned nothing")?;
    Ok(row.try_get("", "n")?)
}

fn machine_cpu() -> Duration {
    crate::cpu::of_machine().unwrap_or_default()
}

fn self_cpu() -> Duration {
    crate::cpu::of_process(std::process::id()).unwrap_or_default()
}

/// pgbench's single-row INSERT rate (autocommit) with `clients` clients on a fresh database,
/// and the whole machine's CPU per insert meanwhile.
pub async fn insert_ceiling(clients: u32, duration: Duration) -> anyhow::Result<Ceiling> {
    let database = TestDatabase::create(Backend::Postgres).await?;
    let db = sea_orm::Database::connect(database.url()).await?;
    db.execute_unprepared("CREATE TABLE pgb (id BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)").await?;
    db.close().await?;
    let script = tempfile::NamedTempFile::new()?;
    std::fs::write(script.path(), "INSERT INTO pgb (v) VALUES ('x');\n")?;
    let machine_before = machine_cpu();
    let output = tokio::process::Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &duration.as_secs().max(1).to_string(),
            "-f",
        ])
        .arg(script.path())
        .arg(database.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("running pgbench (apt-get install postgresql-client)")?;
    let machine = machine_cpu().saturating_sub(machine_before);
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "pgbench failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr));
    let per_second = tps(&stdout)?;
    let inserts = per_second * duration.as_secs().max(1) as f64;
    Ok(Ceiling { per_second, machine_us_per_statement: machine.as_secs_f64() * 1e6 / inserts.max(1.0) })
}

/// pgbench's SELECT-by-primary-key rate (`-S`, prepared) with `clients` clients on a fresh
/// database initialised at scale 10 (a million accounts), and the machine's CPU per select.
pub async fn select_ceiling(clients: u32, duration: Duration) -> anyhow::Result<Ceiling> {
    let database = TestDatabase::create(Backend::Postgres).await?;
    let init = tokio::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "10"])
        .arg(database.url())
        .output()
        .await
        .context("running pgbench -i (apt-get install postgresql-client)")?;
    anyhow::ensure!(init.status.success(), "pgbench -i failed: {}", String::from_utf8_lossy(&init.stderr));
    let machine_before = machine_cpu();
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-S", "-M", "prepared", "-c", &clients.to_string(), "-j", "2", "-T"])
        .arg(duration.as_secs().max(1).to_string())
        .arg(database.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("running pgbench -S")?;
    let machine = machine_cpu().saturating_sub(machine_before);
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "pgbench failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr));
    let per_second = tps(&stdout)?;
    let selects = per_second * duration.as_secs().max(1) as f64;
    Ok(Ceiling { per_second, machine_us_per_statement: machine.as_secs_f64() * 1e6 / selects.max(1.0) })
}

fn tps(stdout: &str) -> anyhow::Result<f64> {
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("tps = ").and_then(|rest| rest.split_whitespace().next()).and_then(|n| n.parse().ok())
        })
        .with_context(|| format!("no tps in pgbench's output: {stdout}"))
}

/// The INSERT ceiling and what one insert costs the machine.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    pub per_second: f64,
    pub machine_us_per_statement: f64,
}
