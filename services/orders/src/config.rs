//! orders' own flags, on top of the kit's (see `mercato_kit::service`).

use std::time::Duration;

use clap::Args;
use mercato_kit::{
    client::{DownstreamArgs, DownstreamConfig},
    config::{Problems, check_upstream_url, parse_positive_duration},
};

/// Flags only orders has.
#[derive(Debug, Clone, Args)]
pub struct OrdersArgs {
    /// catalog's gRPC endpoint: products are checked and priced there.
    #[arg(long, env = "CATALOG_URL", default_value = "http://127.0.0.1:50052")]
    pub catalog_url: String,

    /// Longest a call to catalog may take, retries included. Past it, AddCartItem and
    /// PlaceOrder fail with UNAVAILABLE rather than keep the caller waiting.
    #[arg(long, env = "CATALOG_TIMEOUT", default_value = "2s")]
    pub catalog_timeout: String,

    /// How long each saga step may wait for its reply before the saga gives up on it
    /// (reserving, charging) or sends its command again (committing, compensating).
    #[arg(long, env = "SAGA_STEP_TIMEOUT", default_value = "30s")]
    pub saga_step_timeout: String,

    /// How often the saga's durable timer looks for steps past their deadline.
    #[arg(long, env = "SAGA_TIMER_INTERVAL", default_value = "500ms")]
    pub saga_timer_interval: String,

    #[command(flatten)]
    pub downstream: DownstreamArgs,
}

/// orders' validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub catalog_url: String,
    pub catalog_timeout: Duration,
    pub step_timeout: Duration,
    pub timer_interval: Duration,
    pub downstream: DownstreamConfig,
}

impl OrdersArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<Settings> {
        let catalog_url = problems.check("CATALOG_URL (--catalog-url)", check_upstream_url(&self.catalog_url));
        let catalog_timeout =
            problems.check("CATALOG_TIMEOUT (--catalog-timeout)", parse_positive_duration(&self.catalog_timeout));
        let step_timeout =
            problems.check("SAGA_STEP_TIMEOUT (--saga-step-timeout)", parse_positive_duration(&self.saga_step_timeout));
        let timer_interval = problems
            .check("SAGA_TIMER_INTERVAL (--saga-timer-interval)", parse_positive_duration(&self.saga_timer_interval));
        let downstream = self.downstream.validate(problems);
        Some(Settings {
            catalog_url: catalog_url?,
            catalog_timeout: catalog_timeout?,
            step_timeout: step_timeout?,
            timer_interval: timer_interval?,
            downstream: downstream?,
        })
    }
}
