//! Prometheus metrics, one registry per server (tests run several in one process). RED metrics
//! for every RPC are named as go-grpc-prometheus names them, so existing dashboards work; the
//! process, runtime and pool gauges are read when scraped, never polled in the background.
//!
//! What only I/O can tell (a broker's consumer lag) comes from [`Sampler`]s, which the admin
//! listener awaits before it encodes a scrape, each within [`SAMPLE_TIMEOUT`].

mod grpc;
pub mod pool;
mod process;
mod runtime;

use std::{
    fmt,
    sync::{Arc, RwLock},
    time::Duration,
};

use futures::future::{BoxFuture, join_all};
use prometheus::{Encoder, IntGauge, Opts, Registry, TextEncoder};

pub use self::grpc::GrpcMetrics;

/// A sampler slower than this is abandoned for that scrape (its gauges keep their last values):
/// a broker that does not answer must not hang /metrics, nor outlast Prometheus' own scrape
/// timeout (10 s by default).
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Refreshes gauges that need I/O, right before a scrape is encoded.
pub trait Sampler: Send + Sync + 'static {
    fn sample(&self) -> BoxFuture<'_, ()>;
}

/// The registry a server exposes on /metrics, with the RPC, process and runtime metrics
/// already in it. Services register their own (business KPIs) with [`Metrics::registry`].
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub grpc: Arc<GrpcMetrics>,
    ready: IntGauge,
    samplers: Arc<RwLock<Vec<Arc<dyn Sampler>>>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let samplers = self.samplers.try_read().ok().map(|s| s.len());
        f.debug_struct("Metrics").field("grpc", &self.grpc).field("samplers", &samplers).finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(service: &str, version: &str) -> Self {
        let registry = Registry::new();
        let grpc = Arc::new(GrpcMetrics::register(&registry));
        let info = IntGauge::with_opts(
            Opts::new("mercato_build_info", "Always 1; labels say which binary and version this is.")
                .const_label("service", service)
                .const_label("version", version),
        )
        .ok();
        if let Some(info) = info {
            info.set(1);
            let _ = registry.register(Box::new(info));
        }
        let ready = gauge(
            "mercato_ready",
            "1 when /readyz would answer 200, else 0 (checked at each scrape; a check slower than 250 ms is reported by the next).",
        );
        let _ = registry.register(Box::new(ready.clone()));
        let _ = registry.register(Box::new(process::ProcessCollector::new()));
        let _ = registry.register(Box::new(runtime::RuntimeCollector::new()));
        Self { registry, grpc, ready, samplers: Arc::default() }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Sets `mercato_ready`; the admin listener does, from the readiness checks each scrape starts.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Adds a sampler that [`Metrics::sample`] awaits before each scrape.
    pub fn add_sampler(&self, sampler: impl Sampler) {
        if let Ok(mut samplers) = self.samplers.write() {
            samplers.push(Arc::new(sampler));
        }
    }

    /// Runs every sampler concurrently, each within [`SAMPLE_TIMEOUT`].
    pub async fn sample(&self) {
        let samplers: Vec<_> = self.samplers.read().map(|s| s.clone()).unwrap_or_default();
        join_all(samplers.iter().map(|sampler| async move {
            if tokio::time::timeout(SAMPLE_TIMEOUT, sampler.sample()).await.is_err() {
                tracing::debug!(timeout = ?SAMPLE_TIMEOUT, "a metrics sampler did not finish; its gauges keep their last values");
            }
        }))
        .await;
    }

    /// Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on invalid metric families, which registration rejects.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A gauge of a constant, valid name: failure is a programming error the first test catches.
pub(crate) fn gauge(name: &str, help: &str) -> IntGauge {
    #[allow(clippy::expect_used)]
    IntGauge::new(name, help).expect("valid metric")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_includes_build_info_and_rpc_metrics() {
        let m = Metrics::new("catalog", "9.9.9");
        m.grpc.started.with_label_values(&["a.B", "C"]).inc();
        let text = m.encode();
        assert!(text.contains(r#"mercato_build_info{service="catalog",version="9.9.9"} 1"#), "{text}");
        assert!(text.contains(r#"grpc_server_started_total{grpc_method="C",grpc_service="a.B"} 1"#), "{text}");
    }

    #[test]
    fn ready_follows_what_it_is_told() {
        let m = Metrics::new("catalog", "9.9.9");
        assert!(m.encode().contains("\nmercato_ready 0\n"), "not ready until a scrape says so");
        m.set_ready(true);
        assert!(m.encode().contains("\nmercato_ready 1\n"));
    }

    struct Hangs;

    impl Sampler for Hangs {
        fn sample(&self) -> BoxFuture<'_, ()> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_sampler_that_hangs_is_abandoned_after_the_timeout() {
        let m = Metrics::new("catalog", "9.9.9");
        m.add_sampler(Hangs);
        let started = tokio::time::Instant::now();
        m.sample().await;
        assert_eq!(started.elapsed(), SAMPLE_TIMEOUT);
    }
}
