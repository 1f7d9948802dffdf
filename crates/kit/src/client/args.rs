//! The flags that tune how a process protects its calls downstream; every process that calls
//! another service flattens them into its command line.

use clap::Args;

use super::{BreakerConfig, DownstreamConfig, RetryConfig};
use crate::config::{Problems, parse_count, parse_duration};

#[derive(Debug, Clone, Args)]
pub struct DownstreamArgs {
    /// Calls in flight at once to each downstream; one more fails at once (RESOURCE_EXHAUSTED).
    #[arg(long, env = "DOWNSTREAM_MAX_IN_FLIGHT", default_value = "512")]
    pub downstream_max_in_flight: String,
    /// Attempts per call, the first included, for failures that are safe to retry (1: none).
    #[arg(long, env = "DOWNSTREAM_ATTEMPTS", default_value = "3")]
    pub downstream_attempts: String,
    /// Percentage of a downstream's calls over the last 10 s that may fail before its
    /// circuit opens.
    #[arg(long, env = "BREAKER_FAILURE_PERCENT", default_value = "50")]
    pub breaker_failure_percent: String,
    /// Calls within those 10 s below which a circuit never opens.
    #[arg(long, env = "BREAKER_MIN_CALLS", default_value = "20")]
    pub breaker_min_calls: String,
    /// How long an open circuit fails calls before letting one through to test the downstream.
    #[arg(long, env = "BREAKER_COOL_DOWN", default_value = "5s")]
    pub breaker_cool_down: String,
}

impl DownstreamArgs {
    /// The settings, or `None` with every problem pushed onto `p`.
    pub fn validate(&self, p: &mut Problems) -> Option<DownstreamConfig> {
        let in_flight = p.check(
            "DOWNSTREAM_MAX_IN_FLIGHT (--downstream-max-in-flight)",
            parse_count(&self.downstream_max_in_flight, 1, 1_000_000),
        );
        let attempts =
            p.check("DOWNSTREAM_ATTEMPTS (--downstream-attempts)", parse_count(&self.downstream_attempts, 1, 10));
        let percent = p.check(
            "BREAKER_FAILURE_PERCENT (--breaker-failure-percent)",
            parse_count(&self.breaker_failure_percent, 1, 100),
        );
        let min_calls =
            p.check("BREAKER_MIN_CALLS (--breaker-min-calls)", parse_count(&self.breaker_min_calls, 1, 1_000_000));
        let cool_down = p.check("BREAKER_COOL_DOWN (--breaker-cool-down)", parse_duration(&self.breaker_cool_down));
        let breaker = BreakerConfig {
            failure_rate: f64::from(percent?) / 100.0,
            min_calls: min_calls?,
            cool_down: cool_down?,
            ..BreakerConfig::default()
        };
        Some(DownstreamConfig {
            concurrency: usize::try_from(in_flight?).ok()?,
            breaker,
            retry: RetryConfig { attempts: attempts?, ..RetryConfig::default() },
        })
    }
}
