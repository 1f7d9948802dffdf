//! The consumer inside a real service process (`kit-probe`): what only a process shows.

use std::time::Duration;

use async_nats::{HeaderMap, jetstream};
use mercato_kit::{
    events::headers,
    on_both_databases,
    testing::{Backend, FREE_PORTS, ServiceProcess, TestDatabase, TestNats, eventually, http_get},
};
use sea_orm::{ConnectionTrait, Database};

const BIN: &str = env!("CARGO_BIN_EXE_kit-probe");
const EVENTS: i64 = 20;

async fn probe(db: &TestDatabase, nats: &TestNats, delay: &str) -> ServiceProcess {
    let nats_url = nats.url();
    let args = [
        "--database-url",
        db.url(),
        "--nats-url",
        &nats_url,
        "--handler-delay",
        delay,
        "--consumer-in-flight",
        "4",
        "--consumer-batch",
        "1",
        // Messages pulled but not started when the first process stops come back this soon.
        // Not shorter: a message that waits in the client's buffer behind four 400 ms handlers
        // on a loaded CI box can outlive a 2 s ack wait, and its second delivery, correctly
        // counted a duplicate, would look like an ack lost at shutdown (seen once in CI).
        "--consumer-ack-wait",
        "6s",
        "--shutdown-timeout",
        "15s",
    ];
    ServiceProcess::spawn(BIN, &[&FREE_PORTS[..], &args[..]].concat(), Duration::from_secs(30)).await.unwrap()
}

/// (effects, distinct events with an effect)
async fn effects(db: &TestDatabase) -> (i64, i64) {
    let conn = Database::connect(db.url()).await.unwrap();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS total, COUNT(DISTINCT event_id) AS events FROM effects",
        ))
        .await
        .unwrap()
        .unwrap();
    let counts = (row.try_get("", "total").unwrap(), row.try_get("", "events").unwrap());
    conn.close().await.unwrap();
    counts
}

async fn consumer_info(js: &jetstream::Context) -> Option<jetstream::consumer::Info> {
    let mut consumer =
        js.get_consumer_from_stream::<jetstream::consumer::pull::Config, _, _>("probe-effects", "PROBE").await.ok()?;
    consumer.info().await.ok().cloned()
}

/// SIGTERM while the consumer has messages in flight: they finish and are acked, the process
/// exits 0, and a restarted process handles the rest without any committed one coming back.
async fn sigterm_finishes_the_messages_in_flight_and_none_comes_back(backend: Backend) {
    let nats = TestNats::start().await.unwrap();
    let db = TestDatabase::create(backend).await.unwrap();
    let mut first = probe(&db, &nats, "400ms").await;

    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    eventually(Duration::from_secs(20), "the probe's stream", || async { js.get_stream("PROBE").await.ok() }).await;
    for n in 0..EVENTS {
        let mut event = HeaderMap::new();
        event.insert(headers::EVENT_ID, format!("0190f000-0000-7000-8000-{n:012}").as_str());
        event.insert(headers::EVENT_TYPE, "mercato.probe.v1.Probed");
        let payload = prost::Message::encode_to_vec(&Probed { n });
        js.publish_with_headers("probe.v1.probed", event, payload.into()).await.unwrap().await.unwrap();
    }
    // In flight: handlers that have begun (delivered-but-unacked messages may still sit in
    // the client's buffer, and those come back after CONSUMER_ACK_WAIT instead).
    let started =
        |process: &ServiceProcess| process.log_lines().iter().filter(|l| l.contains("probe handling")).count();
    eventually(Duration::from_secs(20), "handlers in flight", || async { (started(&first) >= 2).then_some(()) }).await;

    first.terminate().unwrap();
    assert!(first.wait(Duration::from_secs(20)).await.unwrap().success(), "a clean exit after draining");
    let (done, _) = effects(&db).await;
    let begun = i64::try_from(started(&first)).unwrap();
    assert!(begun >= 2, "{begun}");
    assert_eq!(done, begun, "every handler that had begun was finished and committed");

    // The rest, on a fresh process: nothing that was committed comes back as a duplicate.
    let second = probe(&db, &nats, "0s").await;
    eventually(Duration::from_secs(30), "all events handled", || async {
        (effects(&db).await.0 >= EVENTS).then_some(())
    })
    .await;
    // Everything acked, including any redelivery of a message whose ack the first process
    // lost: that one would show as a duplicate below.
    eventually(Duration::from_secs(30), "nothing left pending", || async {
        consumer_info(&js).await.filter(|info| info.num_ack_pending == 0 && info.num_pending == 0)
    })
    .await;
    assert_eq!(effects(&db).await, (EVENTS, EVENTS), "each event has exactly one effect");
    let (_, metrics) = http_get(second.admin_addr, "/metrics").await.unwrap();
    let duplicates = metrics
        .lines()
        .find(|l| l.starts_with("mercato_consumer_messages_total") && l.contains("outcome=\"duplicate\""));
    assert!(duplicates.is_none_or(|l| l.ends_with(" 0")), "a committed message came back: {duplicates:?}");
    let processed = metrics
        .lines()
        .find(|l| l.starts_with("mercato_consumer_messages_total") && l.contains("outcome=\"processed\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    assert_eq!(processed, EVENTS - done, "the second process handled exactly the rest");
    second.terminate().unwrap();
}

/// The probe's event, as its binary defines it.
#[derive(Clone, PartialEq, prost::Message)]
struct Probed {
    #[prost(int64, tag = "1")]
    n: i64,
}

on_both_databases!(sigterm_finishes_the_messages_in_flight_and_none_comes_back);
