//! catalog killed (SIGKILL) under load and restarted on its port, again and again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use mercato_e2e::{SEEDED_PRODUCT, Stack, metric};
use mercato_kit::testing::http_get;
use tokio::time::Instant;

const CYCLES: usize = 100;

#[tokio::test]
async fn a_killed_upstream_restarts_on_its_port_at_once_every_time_and_is_used_within_a_second() {
    let mut stack = Stack::start(&[]).await.unwrap();
    let path = format!("/v1/products/{SEEDED_PRODUCT}");
    assert_eq!(stack.get(&path).await.unwrap().0, 200);

    // Load all along: four callers, asking again as soon as answered.
    let running = Arc::new(AtomicBool::new(true));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (addr, path, running) = (stack.gateway.grpc_addr, path.clone(), running.clone());
            tokio::spawn(async move {
                let mut answered = 0u64;
                while running.load(Ordering::Relaxed) {
                    if http_get(addr, &path).await.is_ok() {
                        answered += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                answered
            })
        })
        .collect();

    let mut slowest = Duration::ZERO;
    for cycle in 0..CYCLES {
        // A restart that cannot bind its port fails here ("Address already in use").
        stack.restart_catalog().await.unwrap_or_else(|e| panic!("cycle {cycle}: the restart did not bind: {e:#}"));
        let back = Instant::now();
        loop {
            let (code, _) = stack.get(&path).await.unwrap();
            if code == 200 {
                break;
            }
            assert!(back.elapsed() < Duration::from_secs(1), "cycle {cycle}: still {code} a second after the restart");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        slowest = slowest.max(back.elapsed());
    }

    // A longer outage (the two seconds of the report): the gateway's connects to the dead
    // port stay a handful per second while the callers keep asking.
    let admin = stack.gateway.admin_addr;
    let connects = || metric(admin, "mercato_client_connects_total", ("downstream", "catalog"));
    stack.catalog.kill().unwrap();
    stack.catalog.wait(Duration::from_secs(10)).await.unwrap();
    let before = connects().await.unwrap();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(2) {
        let (code, _) = stack.get(&path).await.unwrap();
        assert_eq!(code, 503);
    }
    let during = connects().await.unwrap() - before;
    assert!(during <= 20.0, "{during} connects in a 2 s outage");

    running.store(false, Ordering::Relaxed);
    for caller in load {
        assert!(caller.await.unwrap() > 0);
    }
    eprintln!("slowest recovery after a restart: {slowest:?}");
}
