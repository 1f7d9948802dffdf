//! Closed-loop load: `concurrency` workers over `connections` HTTP/2 connections, each sending
//! GetProduct for one id, awaiting the answer and sending the next. Latencies go to an HDR
//! histogram in microseconds; failures are counted by status code, never dropped.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use hdrhistogram::Histogram;
use mercato::catalog::v1::{GetProductRequest, catalog_service_client::CatalogServiceClient};
use tokio::{task::JoinSet, time::Instant};
use tonic::transport::{Channel, Endpoint};

/// Slowest latency the histogram holds exactly (60 s); slower ones are clamped to it.
const MAX_LATENCY_US: u64 = 60_000_000;

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub product_id: String,
    pub concurrency: u32,
    pub connections: u32,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one target did during the measured window (and the errors of the warm-up as well).
#[derive(Debug)]
pub struct LoadResult {
    /// Successful requests that started and finished inside the measured window.
    pub requests: u64,
    pub window: Duration,
    /// Latency of those requests, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Failed requests by kind (a gRPC code, or a wrong answer), measured window only.
    pub errors: BTreeMap<String, u64>,
    pub warmup_errors: u64,
    /// One full error message, to say what went wrong.
    pub sample_error: Option<String>,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum::<u64>() + self.warmup_errors
    }

    /// The latency at `quantile` (0..=1) in milliseconds.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1e3
    }

    pub fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1e3
    }

    fn empty(window: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            requests: 0,
            window,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            errors: BTreeMap::new(),
            warmup_errors: 0,
            sample_error: None,
        })
    }

    fn merge(&mut self, other: Self) -> anyhow::Result<()> {
        self.requests += other.requests;
        self.latency_us.add(&other.latency_us)?;
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        self.warmup_errors += other.warmup_errors;
        if self.sample_error.is_none() {
            self.sample_error = other.sample_error;
        }
        Ok(())
    }

    fn error(&mut self, measured: bool, kind: String, message: impl FnOnce() -> String) {
        if measured {
            *self.errors.entry(kind).or_default() += 1;
        } else {
            self.warmup_errors += 1;
        }
        if self.sample_error.is_none() {
            self.sample_error = Some(message());
        }
    }
}

/// Runs the warm-up and the measured window against `addr`.
pub async fn run(addr: SocketAddr, config: &LoadConfig) -> anyhow::Result<LoadResult> {
    let endpoint =
        Endpoint::from_shared(format!("http://{addr}"))?.connect_timeout(Duration::from_secs(5)).tcp_nodelay(true);
    let mut channels = Vec::new();
    for _ in 0..config.connections {
        channels.push(endpoint.connect().await.with_context(|| format!("connecting to {addr}"))?);
    }

    let id: Arc<str> = Arc::from(config.product_id.as_str());
    let measure_from = Instant::now() + config.warmup;
    let until = measure_from + config.duration;
    let mut workers = JoinSet::new();
    for (_, channel) in (0..config.concurrency).zip(channels.iter().cycle()) {
        let client = CatalogServiceClient::new(channel.clone());
        workers.spawn(worker(client, id.clone(), measure_from, until, config.duration));
    }

    let mut total = LoadResult::empty(config.duration)?;
    while let Some(joined) = workers.join_next().await {
        total.merge(joined.context("a load worker panicked")??)?;
    }
    Ok(total)
}

async fn worker(
    mut client: CatalogServiceClient<Channel>,
    id: Arc<str>,
    measure_from: Instant,
    until: Instant,
    window: Duration,
) -> anyhow::Result<LoadResult> {
    let mut stats = LoadResult::empty(window)?;
    loop {
        let started = Instant::now();
        if started >= until {
            break;
        }
        let request = GetProductRequest { id: id.to_string() };
        let result = client.get_product(request).await;
        let finished = Instant::now();
        // Errors count from the window's start whenever they end; latencies only when the
        // whole request fits in the window.
        let in_window = started >= measure_from;
        let measured = in_window && finished <= until;
        match result {
            Ok(response) => {
                let product = response.into_inner().product;
                if product.as_ref().is_some_and(|p| *p.id == *id) {
                    if measured {
                        let micros = u64::try_from((finished - started).as_micros()).unwrap_or(u64::MAX);
                        stats.latency_us.saturating_record(micros.max(1));
                        stats.requests += 1;
                    }
                } else {
                    stats.error(in_window, "OK but wrong product".to_string(), || {
                        format!("asked for {id}, got {:?}", product.map(|p| p.id))
                    });
                }
            }
            Err(status) => {
                let kind = format!("{:?}", status.code());
                stats.error(in_window, kind, || status.to_string());
            }
        }
    }
    Ok(stats)
}
