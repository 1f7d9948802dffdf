//! What a connection may hold at the edge: the gateway binary as a process, clients that
//! connect and then send nothing, or too little, or too many connections.

use std::{net::SocketAddr, time::Duration};

use mercato_kit::testing::{FREE_PORTS, ServiceProcess, eventually, http_get};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use crate::helpers::dead_url;

/// The gateway with no live upstream (what these tests ask for, it answers itself: the
/// OpenAPI document), run through `sh` when `shell` sets limits first.
async fn gateway(flags: &[&str], shell: Option<&str>) -> ServiceProcess {
    let (catalog, identity) = (dead_url(), dead_url());
    let own = ["--catalog-url", catalog.as_str(), "--identity-url", identity.as_str()];
    let args = [&FREE_PORTS[..], &own, flags].concat();
    let bin = env!("CARGO_BIN_EXE_gateway");
    let process = match shell {
        None => ServiceProcess::spawn(bin, &args, Duration::from_secs(20)).await,
        Some(setup) => {
            let script = format!("{setup} && exec \"$0\" \"$@\"");
            ServiceProcess::spawn(
                "/bin/sh",
                &[&["-c", script.as_str(), bin], &args[..]].concat(),
                Duration::from_secs(20),
            )
            .await
        }
    };
    process.unwrap()
}

/// What the server sent before it closed the connection, and how long until it did.
async fn until_closed(mut stream: TcpStream, opened: Instant, within: Duration) -> (Vec<u8>, Duration) {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "still open after {within:?}; received {:?}", String::from_utf8_lossy(&received));
    (received, opened.elapsed())
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
const EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

#[tokio::test]
async fn two_thousand_silent_or_partial_connections_are_each_closed_in_time_while_others_are_served() {
    let timeout = Duration::from_secs(1);
    let process = gateway(&["--header-read-timeout", "1s", "--max-connections-per-ip", "10000"], None).await;
    let addr = process.grpc_addr;
    let openers: [(&str, Vec<u8>); 4] = [
        ("silent", Vec::new()),
        ("half a request line", b"GET /openapi.json HT".to_vec()),
        ("half a preface", PREFACE[..10].to_vec()),
        ("a preface and SETTINGS", [PREFACE, &EMPTY_SETTINGS[..]].concat()),
    ];
    let mut slow = Vec::new();
    for i in 0..2000 {
        let (kind, bytes) = &openers[i % openers.len()];
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let opened = Instant::now();
        stream.write_all(bytes).await.unwrap();
        slow.push((*kind, stream, opened));
    }

    // Someone else is served all along.
    let serving = tokio::spawn(async move {
        let mut served = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            let (code, _) = http_get(addr, "/openapi.json").await.unwrap();
            assert_eq!(code, 200);
            served += 1;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        served
    });

    let closes = slow.into_iter().map(|(kind, stream, opened)| async move {
        let (received, took) = until_closed(stream, opened, timeout * 5).await;
        (kind, String::from_utf8_lossy(&received).into_owned(), took)
    });
    let closed = futures::future::join_all(closes).await;
    for (kind, received, took) in &closed {
        assert!(*took >= timeout.mul_f64(0.9), "{kind}: closed early, after {took:?}");
        assert!(*took <= timeout * 3, "{kind}: closed only after {took:?}");
        if *kind == "half a request line" {
            assert!(received.starts_with("HTTP/1.1 408"), "{kind}: {received:?}");
        } else if *kind != "a preface and SETTINGS" {
            assert!(received.is_empty(), "{kind}: {received:?}");
        }
    }
    assert!(serving.await.unwrap() >= 10, "normal clients were served throughout");
    process.terminate().unwrap();
}

/// Holds `n` connections, each having sent half a request line (so each counts as open).
async fn hold(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /").await.unwrap();
        held.push(stream);
    }
    held
}

#[tokio::test]
async fn a_client_over_its_connection_limit_is_cut_off_until_it_closes_one() {
    let process = gateway(&["--max-connections-per-ip", "10", "--header-read-timeout", "60s"], None).await;
    let addr = process.grpc_addr;
    let mut held = hold(addr, 10).await;
    eventually(Duration::from_secs(5), "the eleventh connection closed at once", || async {
        let mut extra = TcpStream::connect(addr).await.ok()?;
        let _ = extra.write_all(b"GET /openapi.json HTTP/1.0\r\n\r\n").await;
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut buf)).await.ok()?;
        // Reset (an error) or closed with nothing sent.
        (read.is_err() || buf.is_empty()).then_some(())
    })
    .await;
    held.pop();
    eventually(Duration::from_secs(5), "a connection served again", || async {
        http_get(addr, "/openapi.json").await.ok().filter(|(code, _)| *code == 200)
    })
    .await;
    assert!(process.log_lines().iter().any(|l| l.contains("connection refused")));
    drop(held);
    process.terminate().unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let process = gateway(&["--idle-timeout", "1s", "--header-read-timeout", "5s"], None).await;
    let mut stream = TcpStream::connect(process.grpc_addr).await.unwrap();
    stream.write_all(b"GET /openapi.json HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let answered = Instant::now();
    let (_, took) = until_closed(stream, answered, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(900) && took <= Duration::from_secs(3), "closed after {took:?}");
    process.terminate().unwrap();
}

#[tokio::test]
async fn out_of_file_descriptors_the_accept_loop_pauses_logs_sparingly_and_recovers() {
    // 64 descriptors: the runtime, the listeners and a few connections use them up.
    let process = gateway(&["--header-read-timeout", "3s"], Some("ulimit -n 64")).await;
    let addr = process.grpc_addr;
    let started = Instant::now();
    let held = hold(addr, 100).await;
    eventually(Duration::from_secs(5), "accept failing for want of descriptors", || async {
        process.log_lines().iter().any(|l| l.contains("accept failed")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(held);
    eventually(Duration::from_secs(10), "served again once descriptors are free", || async {
        http_get(addr, "/openapi.json").await.ok().filter(|(code, _)| *code == 200)
    })
    .await;
    let lines = process.log_lines().iter().filter(|l| l.contains("accept failed")).count();
    let seconds = started.elapsed().as_secs_f64().ceil();
    assert!((lines as f64) <= seconds + 1.0, "{lines} lines in {seconds}s");
    process.terminate().unwrap();
}
