use std::{sync::atomic::Ordering, time::Duration};

use async_nats::{HeaderMap, jetstream::message::PublishMessage};
use mercato_kit::{
    events::{DLQ_STREAM, EventsConfig, headers},
    on_both_databases,
    testing::{Backend, eventually},
};

use crate::helpers::{Harness, Record, STREAM, Thing, things};

/// Publishes `thing` straight to JetStream as event `id` (what a redelivery or a re-publish
/// after a crash looks like to a consumer), under a `Nats-Msg-Id` of its own.
async fn publish_raw(h: &Harness, id: &str, msg_id: &str, payload: Vec<u8>) {
    let mut headers = HeaderMap::new();
    headers.insert(headers::EVENT_ID, id);
    headers.insert(headers::EVENT_TYPE, "mercato.kittest.v1.Thing");
    let message = PublishMessage::build().payload(payload.into()).headers(headers).message_id(msg_id);
    h.events.broker().jetstream().send_publish("kittest.v1.thing_happened", message).await.unwrap().await.unwrap();
}

async fn ensure_stream(h: &Harness) {
    h.events.broker().ensure_stream(STREAM).await.unwrap();
    h.events.broker().ensure_stream(DLQ_STREAM).await.unwrap();
}

async fn the_same_event_delivered_three_times_has_one_effect(backend: Backend) {
    let mut h = Harness::new(backend).await;
    ensure_stream(&h).await;
    let payload = prost::Message::encode_to_vec(&Thing { key: "k".into(), n: 7 });
    for copy in 0..3 {
        publish_raw(&h, "0190f000-0000-7000-8000-000000000007", &format!("copy-{copy}"), payload.clone()).await;
    }
    let handler = Record::default();
    let started = handler.started.clone();
    h.spawn_consumer("effects", handler);
    eventually(Duration::from_secs(10), "the three deliveries", || async {
        (started.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    // The other two are duplicates: acked without running the handler again.
    eventually(Duration::from_secs(10), "all three acked", || async {
        let info = h
            .events
            .broker()
            .jetstream()
            .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
                "kittest-effects",
                STREAM.name,
            )
            .await
            .ok();
        let mut consumer = info?;
        let info = consumer.info().await.ok()?;
        (info.num_ack_pending == 0 && info.num_pending == 0).then_some(())
    })
    .await;
    assert_eq!(h.effects().await, (1, 1));
    assert_eq!(started.load(Ordering::SeqCst), 1);
}

async fn a_message_that_always_fails_is_dead_lettered_after_max_deliver_while_others_flow(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_relay();
    h.spawn_consumer("effects", Record { always_fails: vec![13], ..Record::default() });
    h.commit(things(0..30)).await;

    let dead = eventually(Duration::from_secs(30), "a dead letter", || async {
        let stream = h.events.broker().jetstream().get_stream(DLQ_STREAM.name).await.ok()?;
        stream.get_raw_message(1).await.ok()
    })
    .await;
    let get = |name: &str| dead.headers.get(name).map(|v| v.as_str().to_string());
    assert_eq!(dead.subject.as_str(), "dlq.kittest.effects");
    assert_eq!(get(headers::DLQ_CONSUMER).as_deref(), Some("kittest-effects"));
    assert_eq!(get(headers::DLQ_ATTEMPTS).as_deref(), Some("3"));
    assert!(
        get(headers::DLQ_ERROR).is_some_and(|e| e.contains("thing 13 always fails")),
        "{:?}",
        get(headers::DLQ_ERROR)
    );
    assert_eq!(get(headers::EVENT_TYPE).as_deref(), Some("mercato.kittest.v1.Thing"));
    assert_eq!(get(headers::DLQ_SUBJECT).as_deref(), Some("kittest.v1.thing_happened"));
    let original: Thing = prost::Message::decode(dead.payload.clone()).unwrap();
    assert_eq!(original.n, 13);

    eventually(Duration::from_secs(30), "the other 29", || async { (h.effects().await.0 >= 29).then_some(()) }).await;
    assert_eq!(h.effects().await, (29, 29));
    assert!(!h.effect_numbers().await.contains(&13));
}

async fn a_bad_payload_is_dead_lettered_at_once(backend: Backend) {
    let mut h = Harness::new(backend).await;
    ensure_stream(&h).await;
    publish_raw(&h, "0190f000-0000-7000-8000-00000000000b", "bad", vec![0xff, 0xff, 0xff]).await;
    let handler = Record::default();
    let started = handler.started.clone();
    h.spawn_consumer("effects", handler);
    let dead = eventually(Duration::from_secs(10), "the dead letter", || async {
        let stream = h.events.broker().jetstream().get_stream(DLQ_STREAM.name).await.ok()?;
        stream.get_raw_message(1).await.ok()
    })
    .await;
    let get = |name: &str| dead.headers.get(name).map(|v| v.as_str().to_string());
    assert_eq!(get(headers::DLQ_ATTEMPTS).as_deref(), Some("1"));
    assert!(get(headers::DLQ_ERROR).is_some_and(|e| e.contains("undecodable")), "{:?}", get(headers::DLQ_ERROR));
    assert_eq!(started.load(Ordering::SeqCst), 0, "the handler never saw it");
}

async fn on_shutdown_messages_in_flight_finish_and_nothing_committed_comes_back(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_relay();
    let slow = Record { delay: Duration::from_millis(300), ..Record::default() };
    let started = slow.started.clone();
    let consumer = h.spawn_consumer("effects", slow);
    h.commit(things(0..40)).await;
    eventually(Duration::from_secs(10), "some in flight", || async {
        (started.load(Ordering::SeqCst) >= 4).then_some(())
    })
    .await;
    h.stop_worker(consumer).await;
    let (done, _) = h.effects().await;
    assert!(done >= 4, "the messages in flight finished: {done}");

    // A new consumer picks up the rest; the ones finished before shutdown are not redone.
    let fresh = Record::default();
    let redone = fresh.started.clone();
    h.spawn_consumer("effects", fresh);
    eventually(Duration::from_secs(30), "all 40", || async { (h.effects().await.0 >= 40).then_some(()) }).await;
    assert_eq!(h.effects().await, (40, 40));
    assert_eq!(
        redone.load(Ordering::SeqCst),
        usize::try_from(40 - done).unwrap(),
        "nothing finished was handled again"
    );
}

/// Messages that arrive together share a transaction; one that fails in it rolls the batch
/// back, and each is then handled alone: the others' effects land once, the bad one is retried
/// and dead-lettered.
async fn a_failing_message_in_a_batch_leaves_the_others_committed_once(backend: Backend) {
    // One transaction at a time, so that the other 15 wait together behind the slow first one.
    let config = EventsConfig { in_flight: 16, consumer_batch: 16, ..crate::helpers::fast_config() };
    let mut h = Harness::with_config(backend, config).await;
    h.spawn_relay();
    h.commit(things(0..16)).await;
    let handler = Record { always_fails: vec![5], slow: Some((0, Duration::from_millis(500))), ..Record::default() };
    let started = handler.started.clone();
    h.spawn_consumer("effects", handler);
    eventually(Duration::from_secs(30), "the dead letter", || async {
        let stream = h.events.broker().jetstream().get_stream(DLQ_STREAM.name).await.ok()?;
        stream.get_raw_message(1).await.ok()
    })
    .await;
    eventually(Duration::from_secs(30), "the other 15", || async { (h.effects().await.0 >= 15).then_some(()) }).await;
    assert_eq!(h.effects().await, (15, 15), "nothing of the rolled-back batch stayed");
    assert!(!h.effect_numbers().await.contains(&5));
    // 0 alone, 1–5 in the batch until 5 failed, all 15 again one by one, then 5's retries:
    // more runs than messages plus retries means a batch was rolled back and redone.
    let runs = started.load(Ordering::SeqCst);
    assert!(runs > 16 + 2, "the batch ran together first: {runs} runs");
    let metrics = h.metrics();
    let count = |outcome: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with("mercato_consumer_messages_total") && l.contains(&format!("outcome=\"{outcome}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert_eq!(count("processed"), 15.0, "{metrics}");
    assert_eq!(count("dead_lettered"), 1.0, "{metrics}");
}

/// `Delivery::on_commit` holds an effect back until the transaction commits: in a batch rolled
/// back because one message failed, none of the batch's effects run; handled again one by one,
/// each committed message's effect runs once, and the failing one's never (it registered one
/// on every attempt before failing).
async fn on_commit_effects_run_once_per_committed_message_and_never_for_a_rolled_back_one(backend: Backend) {
    // As above: the 15 behind the slow first one arrive together and share a transaction.
    let config = EventsConfig { in_flight: 16, consumer_batch: 16, ..crate::helpers::fast_config() };
    let mut h = Harness::with_config(backend, config).await;
    h.spawn_relay();
    h.commit(things(0..16)).await;
    let handler = Record { always_fails: vec![5], slow: Some((0, Duration::from_millis(500))), ..Record::default() };
    let committed = handler.committed.clone();
    h.spawn_consumer("effects", handler);
    eventually(Duration::from_secs(30), "the dead letter", || async {
        let stream = h.events.broker().jetstream().get_stream(DLQ_STREAM.name).await.ok()?;
        stream.get_raw_message(1).await.ok()
    })
    .await;
    eventually(Duration::from_secs(30), "the other 15 effects", || async {
        (committed.lock().unwrap().len() >= 15).then_some(())
    })
    .await;
    let rollbacks =
        mercato_kit::testing::metric(&h.metrics(), "mercato_consumer_batch_rollbacks_total", ("consumer", "effects"));
    assert!(rollbacks >= 1.0, "a batch was rolled back: {}", h.metrics());
    assert_eq!(h.effects().await, (15, 15));
    let expected: std::collections::BTreeMap<i64, usize> = (0..16).filter(|n| *n != 5).map(|n| (n, 1)).collect();
    assert_eq!(*committed.lock().unwrap(), expected, "once per committed message, never for the failed one");
}

/// A handler's `prepare` is given the events of its transaction, all of them, before any of
/// their handlers runs: where a batch shares a transaction, one call sees the whole batch.
async fn prepare_sees_the_events_of_its_transaction_before_their_handlers(backend: Backend) {
    let config = EventsConfig { in_flight: 16, consumer_batch: 16, ..crate::helpers::fast_config() };
    let mut h = Harness::with_config(backend, config).await;
    h.spawn_relay();
    h.commit(things(0..16)).await;
    // The first transaction is slow, so the 15 behind it arrive together.
    let handler = Record { slow: Some((0, Duration::from_millis(300))), ..Record::default() };
    let (prepared, unprepared) = (handler.prepared.clone(), handler.unprepared.clone());
    h.spawn_consumer("effects", handler);
    eventually(Duration::from_secs(30), "all 16", || async { (h.effects().await.0 >= 16).then_some(()) }).await;
    assert_eq!(h.effects().await, (16, 16));
    assert_eq!(unprepared.load(Ordering::SeqCst), 0, "a handler ran for an event its transaction had not prepared");
    let prepared = prepared.lock().unwrap().clone();
    let mut seen: Vec<i64> = prepared.iter().flatten().copied().collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..16).collect::<Vec<_>>(), "each event prepared once: {prepared:?}");
    assert!(prepared.iter().any(|batch| batch.len() > 1), "a batch was prepared together: {prepared:?}");
}

on_both_databases!(
    on_commit_effects_run_once_per_committed_message_and_never_for_a_rolled_back_one,
    prepare_sees_the_events_of_its_transaction_before_their_handlers,
    a_failing_message_in_a_batch_leaves_the_others_committed_once,
    the_same_event_delivered_three_times_has_one_effect,
    a_message_that_always_fails_is_dead_lettered_after_max_deliver_while_others_flow,
    a_bad_payload_is_dead_lettered_at_once,
    on_shutdown_messages_in_flight_finish_and_nothing_committed_comes_back,
);
