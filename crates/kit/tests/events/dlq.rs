use std::{sync::atomic::Ordering, time::Duration};

use mercato_kit::{
    events::{
        dlq::{self, DlqCommand},
        headers,
    },
    on_both_databases,
    testing::{Backend, eventually},
};

use crate::helpers::{Harness, Record, things};

async fn a_replayed_dead_letter_goes_through_its_consumer_once_and_others_skip_it(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_relay();
    let flaky = Record { always_fails: vec![3], ..Record::default() };
    let fixed = flaky.fixed.clone();
    h.spawn_consumer("effects", flaky);
    let audit = Record::default();
    let audited = audit.started.clone();
    h.spawn_consumer("audit", audit);
    h.commit(things(0..5)).await;

    let broker = h.events.broker().clone();
    let letters = eventually(Duration::from_secs(30), "the dead letter", || async {
        let letters = dlq::list(&broker).await.ok()?;
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.header(headers::DLQ_CONSUMER), Some("kittest-effects"));
    eventually(Duration::from_secs(10), "the audit consumer's five", || async {
        (audited.load(Ordering::SeqCst) >= 5).then_some(())
    })
    .await;

    let mut listing = Vec::new();
    dlq::run(DlqCommand::List { json: true }, &broker, &mut listing).await.unwrap();
    let line: serde_json::Value = serde_json::from_slice(listing.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["consumer"], "kittest-effects");
    assert_eq!(line["attempts"], 3);
    assert!(line["error"].as_str().unwrap().contains("thing 3 always fails"));

    let mut shown = Vec::new();
    dlq::run(DlqCommand::Show { sequence: letter.sequence, json: true }, &broker, &mut shown).await.unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&shown).unwrap();
    assert_eq!(shown["headers"][headers::EVENT_TYPE], "mercato.kittest.v1.Thing");
    assert!(shown["payload"]["base64"].is_string(), "a type outside the contracts shows as base64: {shown}");

    fixed.store(true, Ordering::SeqCst);
    let mut out = Vec::new();
    dlq::run(DlqCommand::Replay { sequence: Some(letter.sequence), all: false }, &broker, &mut out).await.unwrap();
    // Both consumers record effects: five each once the replay is through.
    eventually(Duration::from_secs(10), "the replayed effect", || async { (h.effects().await.0 >= 10).then_some(()) })
        .await;
    assert_eq!(h.effects().await, (10, 5), "each event's effect once per consumer");
    assert!(dlq::list(&broker).await.unwrap().is_empty(), "a replayed letter leaves the DLQ");
    // The audit consumer had handled the original: once it has acked the replay too, its
    // handler has still run five times.
    let jetstream = broker.jetstream().clone();
    eventually(Duration::from_secs(10), "the audit consumer to ack the replay", || async {
        let mut consumer = jetstream
            .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>("kittest-audit", "KITTEST")
            .await
            .ok()?;
        let info = consumer.info().await.ok()?;
        (info.num_pending == 0 && info.num_ack_pending == 0 && info.delivered.stream_sequence >= 6).then_some(())
    })
    .await;
    assert_eq!(audited.load(Ordering::SeqCst), 5);
}

async fn purge_removes_this_services_dead_letters(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_relay();
    h.spawn_consumer("effects", Record { always_fails: vec![1, 2], ..Record::default() });
    h.commit(things(0..4)).await;
    let broker = h.events.broker().clone();
    eventually(Duration::from_secs(30), "two dead letters", || async {
        (dlq::list(&broker).await.ok()?.len() == 2).then_some(())
    })
    .await;
    let mut out = Vec::new();
    dlq::run(DlqCommand::Purge { sequence: None, all: true }, &broker, &mut out).await.unwrap();
    assert_eq!(String::from_utf8(out).unwrap().trim(), "2 dead letter(s) purged");
    assert!(dlq::list(&broker).await.unwrap().is_empty());
}

on_both_databases!(
    a_replayed_dead_letter_goes_through_its_consumer_once_and_others_skip_it,
    purge_removes_this_services_dead_letters,
);
