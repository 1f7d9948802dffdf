use std::time::Duration;

use mercato_kit::{
    db,
    events::{Event, StreamSpec, headers},
    on_both_databases,
    testing::{Backend, eventually},
};

use crate::helpers::{Harness, Record, STREAM, Thing, things};

async fn a_thousand_committed_events_arrive_exactly_once_and_a_rollback_publishes_nothing(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_relay();
    h.spawn_consumer("effects", Record::default());

    let rolled_back = db::begin_write(&h.db).await.unwrap();
    for thing in things(5000..5010) {
        h.events.outbox().publish(&rolled_back, &thing).await.unwrap();
    }
    rolled_back.rollback().await.unwrap();
    for batch in 0..100 {
        h.commit(things(batch * 10..batch * 10 + 10)).await;
    }

    eventually(Duration::from_secs(60), "1,000 effects", || async { (h.effects().await.0 >= 1000).then_some(()) })
        .await;
    assert_eq!(h.effects().await, (1000, 1000));
    assert!(h.effect_numbers().await.iter().all(|n| *n < 1000), "nothing of the rolled-back transaction");
    assert_eq!(stream_messages(&h, STREAM).await, 1000);
}

async fn events_committed_while_nats_is_down_are_kept_and_published_when_it_returns(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_relay();
    h.spawn_consumer("effects", Record::default());
    h.commit(things(0..100)).await;
    eventually(Duration::from_secs(30), "the first 100", || async { (h.effects().await.0 >= 100).then_some(()) }).await;

    h.nats.stop().await.unwrap();
    for batch in 1..5 {
        h.commit(things(batch * 100..batch * 100 + 100)).await;
    }
    h.nats.restart().await.unwrap();

    eventually(Duration::from_secs(60), "all 500 after the restart", || async {
        (h.effects().await.0 >= 500).then_some(())
    })
    .await;
    assert_eq!(h.effects().await, (500, 500));
}

async fn events_carry_their_id_type_producer_and_time(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_relay();
    h.commit([Thing { key: "k".into(), n: 1 }]).await;
    let message = eventually(Duration::from_secs(10), "the event in the stream", || async {
        let stream = h.events.broker().jetstream().get_stream(STREAM.name).await.ok()?;
        stream.get_raw_message(1).await.ok()
    })
    .await;
    let get = |name: &str| message.headers.get(name).map(|v| v.as_str().to_string());
    let id = get(headers::EVENT_ID).unwrap();
    assert!(uuid::Uuid::parse_str(&id).is_ok_and(|u| u.get_version_num() == 7), "{id}");
    assert_eq!(get(headers::MSG_ID).as_deref(), Some(id.as_str()));
    assert_eq!(get(headers::EVENT_TYPE).as_deref(), Some("mercato.kittest.v1.Thing"));
    assert_eq!(get(headers::PRODUCER).as_deref(), Some("kittest"));
    assert!(get(headers::OCCURRED_AT).is_some_and(|t| chrono::DateTime::parse_from_rfc3339(&t).is_ok()));
    assert_eq!(message.subject.as_str(), "kittest.v1.thing_happened");
}

async fn two_relays_on_one_database_publish_each_event_once_in_order_per_aggregate(backend: Backend) {
    let mut h = Harness::new(backend).await;
    let second = Harness::events_on(&h.nats, &h.db, crate::helpers::fast_config()).await;
    h.spawn_relay();
    let relay = second.relay();
    h.spawn(move |stop| Box::pin(relay.run(stop)));
    for batch in 0..30 {
        h.commit(things(batch * 10..batch * 10 + 10)).await;
    }
    eventually(Duration::from_secs(60), "300 in the stream", || async {
        (stream_messages(&h, STREAM).await >= 300).then_some(())
    })
    .await;
    // Give a straggler the chance to show up as a duplicate, then check order per aggregate.
    let stream = h.events.broker().jetstream().get_stream(STREAM.name).await.unwrap();
    let mut last_per_key = std::collections::HashMap::<String, i64>::new();
    let mut seen = 0;
    for sequence in 1..=stream_messages(&h, STREAM).await {
        let message = stream.get_raw_message(sequence).await.unwrap();
        let thing: Thing = prost::Message::decode(message.payload).unwrap();
        let previous = last_per_key.insert(thing.key.clone(), thing.n);
        assert!(previous.is_none_or(|p| p < thing.n), "{} after {previous:?} for {}", thing.n, thing.key);
        seen += 1;
    }
    assert_eq!(seen, 300, "each event exactly once in the stream");
}

async fn the_backlog_is_exported_while_nats_is_down_and_sent_rows_are_pruned_after_retention(backend: Backend) {
    let config = mercato_kit::events::EventsConfig { retention: Duration::ZERO, ..crate::helpers::fast_config() };
    let mut h = Harness::with_config(backend, config).await;
    h.nats.stop().await.unwrap();
    h.commit(things(0..5)).await;
    let relay = h.events.relay();
    relay.update_gauges().await;
    let metrics = h.metrics();
    assert!(metrics.contains("mercato_outbox_backlog 5"), "{metrics}");
    assert!(!metrics.contains("mercato_outbox_oldest_unsent_age_seconds 0\n"), "{metrics}");

    h.nats.restart().await.unwrap();
    h.spawn_relay();
    eventually(Duration::from_secs(30), "the five published", || async {
        (stream_messages(&h, STREAM).await >= 5).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "the rows marked sent", || async {
        relay.update_gauges().await;
        h.metrics().contains("mercato_outbox_backlog 0").then_some(())
    })
    .await;
    assert_eq!(relay.prune().await.unwrap(), 5, "sent rows past the retention go");
    assert_eq!(relay.prune().await.unwrap(), 0);
}

/// A `Thing` with room for padding: the same subject and type, a bigger payload.
#[derive(Clone, PartialEq, prost::Message)]
struct Padded {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(int64, tag = "2")]
    n: i64,
    #[prost(string, tag = "3")]
    pad: String,
}

impl Event for Padded {
    const SUBJECT: &'static str = Thing::SUBJECT;
    const TYPE: &'static str = Thing::TYPE;
    fn aggregate(&self) -> String {
        self.key.clone()
    }
}

async fn a_failed_publish_holds_back_the_later_events_of_its_aggregate_and_no_other(backend: Backend) {
    let h = Harness::new(backend).await;
    let broker = h.events.broker();
    broker.ensure_stream(STREAM).await.unwrap();
    // The stream refuses a message over 1 KiB: one event of aggregate "a" cannot be published.
    let mut config = broker.jetstream().get_stream(STREAM.name).await.unwrap().info().await.unwrap().config.clone();
    config.max_message_size = 1024;
    broker.jetstream().update_stream(&config).await.unwrap();
    let txn = db::begin_write(&h.db).await.unwrap();
    for (key, n, pad) in [("a", 1, 0), ("b", 2, 0), ("a", 3, 4096), ("b", 4, 0), ("a", 5, 0), ("b", 6, 0)] {
        let event = Padded { key: key.into(), n, pad: "x".repeat(pad) };
        h.events.outbox().publish(&txn, &event).await.unwrap();
    }
    h.events.outbox().commit(txn).await.unwrap();

    let relay = h.events.relay();
    let refused = relay.relay_once().await.expect_err("the oversized event is refused");
    assert!(format!("{refused:#}").contains("ack"), "{refused:#}");
    assert_eq!(stream_numbers(&h).await, [1, 2, 4, 6], "5 waits behind 3; b goes on");

    config.max_message_size = -1;
    broker.jetstream().update_stream(&config).await.unwrap();
    let outcome = relay.relay_once().await.unwrap();
    assert_eq!(outcome.published, 2);
    assert_eq!(stream_numbers(&h).await, [1, 2, 4, 6, 3, 5], "a in commit order");
}

/// The numbers of the events in the stream, in stream order.
async fn stream_numbers(h: &Harness) -> Vec<i64> {
    let stream = h.events.broker().jetstream().get_stream(STREAM.name).await.unwrap();
    let mut numbers = Vec::new();
    for sequence in 1..=stream_messages(h, STREAM).await {
        let message = stream.get_raw_message(sequence).await.unwrap();
        numbers.push(<Thing as prost::Message>::decode(message.payload).unwrap().n);
    }
    numbers
}

async fn stream_messages(h: &Harness, spec: StreamSpec) -> u64 {
    match h.events.broker().jetstream().get_stream(spec.name).await {
        Ok(mut stream) => stream.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

on_both_databases!(
    a_thousand_committed_events_arrive_exactly_once_and_a_rollback_publishes_nothing,
    events_committed_while_nats_is_down_are_kept_and_published_when_it_returns,
    events_carry_their_id_type_producer_and_time,
    two_relays_on_one_database_publish_each_event_once_in_order_per_aggregate,
    a_failed_publish_holds_back_the_later_events_of_its_aggregate_and_no_other,
    the_backlog_is_exported_while_nats_is_down_and_sent_rows_are_pruned_after_retention,
);
