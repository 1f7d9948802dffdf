//! Rate, errors and duration of every RPC, as go-grpc-prometheus names them.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

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

/// Warn lines about failed RPCs per second; the next says how many were left out.
const FAILURE_LINES_PER_SECOND: u32 = 10;

impl GrpcMetrics {
    pub(super) fn register(registry: &Registry) -> Self {
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
