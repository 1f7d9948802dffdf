//! The gateway beyond its capacity: open-loop load (requests arrive on a schedule, whether or
//! not earlier ones were answered, as real users' do) at twice what it serves, against its
//! unloaded latency. A closed loop cannot overload anything: it slows down with the server.
//!
//! Latency is counted from each request's scheduled time, so time spent waiting in the load
//! generator itself is not hidden (no coordinated omission).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, client::conn::http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Mutex;

use tokio::{task::JoinSet, time::Instant};

const MAX_LATENCY_US: u64 = 60_000_000;
/// HTTP/2 connections the generator spreads requests over.
const CONNECTIONS: usize = 8;

/// What one phase saw.
#[derive(Debug)]
pub struct Phase {
    pub offered_per_s: f64,
    pub window: Duration,
    /// 200s: their latency from the scheduled time, in µs.
    pub served: Histogram<u64>,
    /// Refused for capacity: 503 (the edge's shedding, an open circuit) or 429 (an upstream's
    /// bulkhead or shedding, RESOURCE_EXHAUSTED).
    pub refused: u64,
    pub other: u64,
    /// One unexpected answer, to say what went wrong.
    pub sample_other: Option<String>,
}

impl Phase {
    pub fn served_per_s(&self) -> f64 {
        self.served.len() as f64 / self.window.as_secs_f64()
    }

    pub fn refused_per_s(&self) -> f64 {
        self.refused as f64 / self.window.as_secs_f64()
    }

    pub fn ms(&self, quantile: f64) -> f64 {
        self.served.value_at_quantile(quantile) as f64 / 1e3
    }
}

/// HTTP/2 connections to the gateway, used in turn.
pub struct Client {
    senders: Vec<http2::SendRequest<Empty<Bytes>>>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("addr", &self.addr).field("connections", &self.senders.len()).finish()
    }
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let mut senders = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let stream = tokio::net::TcpStream::connect(addr).await.context("connecting to the gateway")?;
            stream.set_nodelay(true)?;
            let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            senders.push(sender);
        }
        Ok(Self { senders, addr })
    }

    /// One GET: the status (0 when the request failed on the wire) and a sample of the body.
    async fn get(&self, i: usize, path: &str) -> (u16, String) {
        let mut sender = self.senders[i % self.senders.len()].clone();
        let request = match Request::get(format!("http://{}{path}", self.addr)).body(Empty::<Bytes>::new()) {
            Ok(request) => request,
            Err(e) => return (0, e.to_string()),
        };
        match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                (status, String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
            }
            Err(e) => (0, e.to_string()),
        }
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).context("histogram bounds")
}

/// Requests at `rate` a second for `window`, each on schedule, over `paths` in turn.
pub async fn open_loop(
    client: &Arc<Client>,
    paths: &Arc<Vec<String>>,
    rate: f64,
    window: Duration,
) -> anyhow::Result<Phase> {
    let total = (rate * window.as_secs_f64()).round() as usize;
    let start = Instant::now();
    let results = Arc::new(Mutex::new((histogram()?, 0u64, 0u64, None::<String>)));
    let mut tasks = JoinSet::new();
    for i in 0..total {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        let (client, paths, results) = (client.clone(), paths.clone(), results.clone());
        tasks.spawn(async move {
            let (status, body) = client.get(i, &paths[i % paths.len()]).await;
            let took = u64::try_from(scheduled.elapsed().as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_LATENCY_US);
            let Ok(mut results) = results.lock() else { return };
            match status {
                200 => {
                    let _ = results.0.record(took);
                }
                503 | 429 => results.1 += 1,
                _ => {
                    results.2 += 1;
                    results.3.get_or_insert(format!("{status}: {body}"));
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let (served, refused, other, sample_other) = Arc::try_unwrap(results)
        .map_err(|_| anyhow::anyhow!("a request outlived the phase"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a request panicked"))?;
    Ok(Phase { offered_per_s: rate, window, served, refused, other, sample_other })
}

/// The most it serves: `callers` each asking again as soon as answered, for `window`.
pub async fn capacity(
    client: &Arc<Client>,
    paths: &Arc<Vec<String>>,
    callers: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let until = Instant::now() + window;
    let mut tasks = JoinSet::new();
    for caller in 0..callers {
        let (client, paths) = (client.clone(), paths.clone());
        tasks.spawn(async move {
            let mut served = 0u64;
            let mut i = caller;
            while Instant::now() < until {
                if client.get(i, &paths[i % paths.len()]).await.0 == 200 {
                    served += 1;
                }
                i += callers;
            }
            served
        });
    }
    let mut served = 0;
    while let Some(done) = tasks.join_next().await {
        served += done?;
    }
    Ok(served as f64 / window.as_secs_f64())
}
