//! What /metrics shows: a real server's scrape (process, runtime, pool, readiness, consumers),
//! and the JetStream gauges following messages as they wait, are delivered and are
//! dead-lettered.

use std::time::Duration;

use mercato_kit::{
    config::{Problems, ServiceDefaults},
    events::{
        StreamSpec,
        dlq::{self, DlqCommand},
    },
    metrics::Sampler,
    on_both_databases,
    service::{self, NoCommand, Service, Setup},
    testing::{Backend, Running, TestDatabase, TestNats, eventually, http_get, metric, series, service_args},
};
use sea_orm::DatabaseConnection;

use crate::helpers::{Harness, Migrator, Record, STREAM, Thing, things};

#[derive(Debug, Clone, clap::Args)]
struct NoArgs {}

/// A service on the kit's skeleton with a database, a stream and one consumer.
#[derive(Debug)]
struct Scraped;

impl Service for Scraped {
    const DEFAULTS: ServiceDefaults =
        ServiceDefaults { name: "kittest", version: "0.0.0", grpc_port: 1, admin_port: 2 };
    const ABOUT: &'static str = "a service for the kit's scrape test.";
    const STREAM: Option<StreamSpec> = Some(STREAM);
    type Args = NoArgs;
    type Command = NoCommand;
    type Settings = ();
    type Migrator = Migrator;

    fn settings(_: &NoArgs, _: &mut Problems) -> Option<()> {
        Some(())
    }

    async fn build(setup: Setup<'_, ()>) -> anyhow::Result<()> {
        let events = setup.events.ok_or_else(|| anyhow::anyhow!("a stream was declared"))?;
        let worker = events.consumer::<Thing, _>("effects", STREAM.name, Record::default());
        setup.server.workers().add("effects", worker);
        Ok(())
    }

    async fn run_command(command: NoCommand, _: &service::Config<()>, _: &DatabaseConnection) -> anyhow::Result<()> {
        match command {}
    }
}

async fn a_scrape_shows_the_process_runtime_pool_readiness_and_consumers(backend: Backend) {
    let mut nats = TestNats::start().await.unwrap();
    let database = TestDatabase::create(backend).await.unwrap();
    let mut args = service_args("kittest", &database);
    args.extend(["--nats-url".to_string(), nats.url(), "--db-max-connections".to_string(), "7".to_string()]);
    let running = Running::service::<Scraped>(args, Some(database)).await.unwrap();
    running.wait_ready().await.unwrap();

    // The relay's first rounds have begun transactions and provisioned the streams (the DLQ
    // too), and the consumer exists on JetStream.
    let text = eventually(Duration::from_secs(20), "a scrape with the pool's waits and the consumer", || async {
        let (code, text) = http_get(running.admin_addr, "/metrics").await.ok()?;
        assert_eq!(code, 200, "{text}");
        let begun = series(&text, "mercato_db_pool_acquire_wait_seconds_count")?;
        let consumer = series(&text, r#"mercato_consumer_pending_messages{consumer="effects"}"#)?;
        series(&text, r#"mercato_dlq_messages{consumer="effects"}"#)?;
        (begun >= 1.0 && consumer == 0.0 && series(&text, "mercato_ready") == Some(1.0)).then_some(text)
    })
    .await;
    let get = |name: &str| series(&text, name).unwrap_or_else(|| panic!("{name} missing:\n{text}"));
    assert_eq!(get("mercato_ready"), 1.0);

    assert!(get("process_resident_memory_bytes") > 1e6);
    assert!(get("process_virtual_memory_bytes") >= get("process_resident_memory_bytes"));
    assert!(get("process_cpu_seconds_total") > 0.0);
    assert!(get("process_open_fds") >= 3.0);
    assert!(get("process_max_fds") >= get("process_open_fds"));
    assert!(get("process_threads") >= 1.0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - 86_400.0..=now + 1.0).contains(&get("process_start_time_seconds")), "{text}");

    assert!(get("mercato_runtime_alive_tasks") >= 1.0, "the server's own tasks at least");
    assert!(get("mercato_runtime_global_queue_depth") >= 0.0);

    assert_eq!(get("mercato_db_pool_max_connections"), 7.0);
    let (in_use, idle) =
        (get(r#"mercato_db_pool_connections{state="in_use"}"#), get(r#"mercato_db_pool_connections{state="idle"}"#));
    assert!(in_use >= 0.0 && idle >= 0.0 && in_use + idle >= 1.0 && in_use + idle <= 7.0, "{text}");

    assert_eq!(get(r#"mercato_consumer_ack_pending_messages{consumer="effects"}"#), 0.0);
    assert_eq!(get(r#"mercato_dlq_messages{consumer="effects"}"#), 0.0);
    assert_eq!(get(r#"mercato_consumer_redeliveries_total{consumer="effects"}"#), 0.0);

    // With the broker gone, every scrape still answers promptly, and soon says the server is
    // not ready (once the client has noticed).
    nats.stop().await.unwrap();
    eventually(Duration::from_secs(10), "a scrape saying not ready", || async {
        let started = std::time::Instant::now();
        let (code, text) = http_get(running.admin_addr, "/metrics").await.unwrap();
        assert_eq!(code, 200);
        assert!(started.elapsed() < Duration::from_secs(4), "a scrape took {:?}", started.elapsed());
        (series(&text, "mercato_ready") == Some(0.0)).then_some(())
    })
    .await;
    running.stop().await.unwrap();
}

/// Samples, then the value of `name` for consumer `effects`.
async fn sampled(h: &Harness, name: &str) -> f64 {
    h.events.sample().await;
    metric(&h.metrics(), name, ("consumer", "effects"))
}

async fn lag_and_dead_letter_gauges_follow_the_messages(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_relay();
    // The consumer exists once it has handled one message; then nobody pulls.
    let first = h.spawn_consumer("effects", Record::default());
    h.commit(things(0..1)).await;
    eventually(Duration::from_secs(20), "the first effect", || async { (h.effects().await.0 == 1).then_some(()) })
        .await;
    h.stop_worker(first).await;

    h.commit(things(1..6)).await;
    eventually(Duration::from_secs(20), "five messages waiting", || async {
        (sampled(&h, "mercato_consumer_pending_messages").await == 5.0).then_some(())
    })
    .await;
    assert_eq!(sampled(&h, "mercato_dlq_messages").await, 0.0);

    // Slow handlers hold messages delivered but unacked; number 3 fails until dead-lettered.
    h.spawn_consumer(
        "effects",
        Record { always_fails: vec![3], delay: Duration::from_millis(300), ..Record::default() },
    );
    eventually(Duration::from_secs(20), "messages delivered, not yet acked", || async {
        (sampled(&h, "mercato_consumer_ack_pending_messages").await >= 1.0).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "one dead letter, nothing else left", || async {
        let dead = sampled(&h, "mercato_dlq_messages").await;
        let metrics = h.metrics();
        let waiting = metric(&metrics, "mercato_consumer_pending_messages", ("consumer", "effects"))
            + metric(&metrics, "mercato_consumer_ack_pending_messages", ("consumer", "effects"));
        (dead == 1.0 && waiting == 0.0).then_some(())
    })
    .await;
    // Number 3 came back twice before it was dead-lettered on its third delivery.
    let redelivered = metric(&h.metrics(), "mercato_consumer_redeliveries_total", ("consumer", "effects"));
    assert!(redelivered >= 2.0, "{}", h.metrics());

    let mut out = Vec::new();
    dlq::run(DlqCommand::Purge { sequence: None, all: true }, h.events.broker(), &mut out).await.unwrap();
    assert_eq!(sampled(&h, "mercato_dlq_messages").await, 0.0, "a purged dead letter is gone from the gauge");
}

on_both_databases!(
    a_scrape_shows_the_process_runtime_pool_readiness_and_consumers,
    lag_and_dead_letter_gauges_follow_the_messages,
);
