//! Feeds hand every replica each event published after the replica started, even when the
//! stream only came to exist (or NATS only came back) later.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use mercato_kit::{
    on_both_databases,
    testing::{Backend, eventually},
};

use crate::helpers::{Harness, STREAM, Thing, things};

on_both_databases!(a_feed_started_before_its_stream_exists_misses_nothing_published_after_it_started);

async fn a_feed_started_before_its_stream_exists_misses_nothing_published_after_it_started(backend: Backend) {
    let mut harness = Harness::new(backend).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let feed = harness.events.follow::<Thing, _>(STREAM.name, move |thing| sink.lock().unwrap().push(thing.n));
    // No relay has run, so the stream does not exist: the feed's first attempts fail.
    harness.spawn(feed);
    harness.commit(things(0..3)).await;
    // The relay creates the stream and publishes, typically before the feed's next attempt
    // (200 ms later); a feed that started at "new messages" then would see none of them.
    harness.spawn_relay();
    let numbers = eventually(Duration::from_secs(10), "the feed's events", || {
        let seen = seen.clone();
        async move {
            let numbers = seen.lock().unwrap().clone();
            (numbers.len() >= 3).then_some(numbers)
        }
    })
    .await;
    assert_eq!(numbers, [0, 1, 2]);
    // And what follows arrives once, in order.
    harness.commit(things(3..5)).await;
    let numbers = eventually(Duration::from_secs(10), "the later events", || {
        let seen = seen.clone();
        async move {
            let numbers = seen.lock().unwrap().clone();
            (numbers.len() >= 5).then_some(numbers)
        }
    })
    .await;
    assert_eq!(numbers, [0, 1, 2, 3, 4]);
}
