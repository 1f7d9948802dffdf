//! Prometheus metrics, one registry per server (tests run several in one process). RED metrics
//! for every RPC are named as go-grpc-prometheus names them, so existing dashboards work.

use std::sync::Arc;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The registry a server exposes on /metrics, with the RPC metrics already in it. Services
/// register their own (business KPIs, pool use) with [`Metrics::registry`].
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub grpc: Arc<GrpcMetrics>,
}

/// Rate, errors and duration of every RPC.
#[derive(Debug)]
pub struct GrpcMetrics {
    pub started: IntCounterVec,
    pub handled: IntCounterVec,
    pub handling_seconds: HistogramVec,
    pub in_flight: IntGaugeVec,
    /// The warn lines about failed RPCs (a few a second).
    pub failure_log: crate::log_budget::LogBudget,
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
        Self { registry, grpc }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on invalid metric families, which registration rejects.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Warn lines about failed RPCs per second; the next says how many were left out.
const FAILURE_LINES_PER_SECOND: u32 = 10;

impl GrpcMetrics {
    fn register(registry: &Registry) -> Self {
        let labels = ["grpc_service", "grpc_method"];
        let started =
            IntCounterVec::new(Opts::new("grpc_server_started_total", "RPCs started on the server."), &labels);
        let handled = IntCounterVec::new(
            Opts::new("grpc_server_handled_total", "RPCs completed on the server, by status code."),
            &["grpc_service", "grpc_method", "grpc_code"],
        );
        let handling_seconds = HistogramVec::new(
            HistogramOpts::new("grpc_server_handling_seconds", "Time from request to final status.")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &labels,
        );
        let in_flight = IntGaugeVec::new(Opts::new("grpc_server_in_flight", "RPCs being handled right now."), &labels);
        // The names and labels above are static and valid; failure here is a programming error
        // caught by the first test that builds a server.
        #[allow(clippy::expect_used)]
        let metrics = Self {
            started: started.expect("valid metric"),
            handled: handled.expect("valid metric"),
            handling_seconds: handling_seconds.expect("valid metric"),
            in_flight: in_flight.expect("valid metric"),
            failure_log: crate::log_budget::LogBudget::per_second(FAILURE_LINES_PER_SECOND),
        };
        for c in [
            Box::new(metrics.started.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.handled.clone()),
            Box::new(metrics.handling_seconds.clone()),
            Box::new(metrics.in_flight.clone()),
        ] {
            let _ = registry.register(c);
        }
        metrics
    }
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
}
