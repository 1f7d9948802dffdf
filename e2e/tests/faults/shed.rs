//! The gateway at capacity: what it cannot start now it refuses at once.

use std::{net::SocketAddr, time::Duration};

use mercato_e2e::{SEEDED_PRODUCT, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A raw HTTP/1.0 GET: the whole response, head included.
async fn get(addr: SocketAddr, path: String) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.0\r\nhost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_in_flight_the_gateway_answers_503_with_retry_after_at_once_and_serves_the_admitted() {
    let stack = Stack::start(&["--max-in-flight", "2", "--upstream-timeout", "30s"]).await.unwrap();
    let path = format!("/v1/products/{SEEDED_PRODUCT}");
    assert_eq!(stack.get(&path).await.unwrap().0, 200);

    stack.catalog.pause().unwrap();
    // Requests that get no answer are in progress (catalog hangs); the first that is answered
    // at once is the refusal. A request given up on would free its place, so none is.
    let mut admitted = Vec::new();
    let refused = loop {
        assert!(admitted.len() <= 2, "{} requests in progress with --max-in-flight 2", admitted.len());
        let mut call = tokio::spawn(get(stack.gateway.grpc_addr, path.clone()));
        match tokio::time::timeout(Duration::from_millis(500), &mut call).await {
            Ok(answered) => break answered.unwrap(),
            Err(_) => admitted.push(call),
        }
    };
    assert_eq!(admitted.len(), 2, "two admitted before the refusal");
    assert!(refused.starts_with("HTTP/1.0 503"), "{refused}");
    let lower = refused.to_lowercase();
    assert!(lower.contains("\r\nretry-after: 1\r\n"), "{refused}");
    assert!(lower.contains("application/json") && refused.contains("capacity"), "{refused}");
    let (_, metrics) = mercato_kit::testing::http_get(stack.gateway.admin_addr, "/metrics").await.unwrap();
    assert!(metrics.contains("mercato_shed_total 1"), "{metrics}");
    assert!(stack.gateway.log_lines().iter().any(|l| l.contains("at capacity: refusing requests")));

    // A crowd beyond capacity (the report: 2,048 connections took the gateway from 15 to 106 MB
    // as every request queued): all but the admitted are refused at once, and memory stays put.
    let crowd: Vec<_> = (0..2000).map(|_| tokio::spawn(get(stack.gateway.grpc_addr, path.clone()))).collect();
    for call in crowd {
        let answer = call.await.unwrap();
        assert!(answer.starts_with("HTTP/1.0 503"), "{answer}");
    }
    let peak_mb = stack.gateway.peak_rss_kib().unwrap() / 1024;
    eprintln!("gateway peak RSS under 2,000 callers: {peak_mb} MB");
    assert!(peak_mb < 64, "the gateway's memory peaked at {peak_mb} MB under 2,000 callers");

    stack.catalog.resume().unwrap();
    for call in admitted {
        let served = call.await.unwrap();
        assert!(served.starts_with("HTTP/1.0 200"), "an admitted request is served: {served}");
    }
    assert_eq!(stack.get(&path).await.unwrap().0, 200);
}
