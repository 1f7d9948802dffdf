//! payments' own flags, on top of the kit's (see `mercato_kit::service`).

use std::time::Duration;

use clap::Args;
use mercato_kit::config::{Problems, parse_count, parse_duration};

use crate::provider::test::TestProviderSettings;

/// Flags only payments has.
#[derive(Debug, Clone, Args)]
pub struct PaymentsArgs {
    /// The payment provider: `test` (Stripe-style test tokens; no money moves). Real
    /// providers are adapters behind the same port.
    #[arg(long, env = "PAYMENT_PROVIDER", default_value = "test")]
    pub payment_provider: String,

    /// Test provider: how long each call takes.
    #[arg(long, env = "TEST_PROVIDER_LATENCY", default_value = "0s")]
    pub test_provider_latency: String,

    /// Test provider: the share of calls (0–1) that fail as a provider outage would, for
    /// fault runs. Such failures are retried, never answered as a decline.
    #[arg(long, env = "TEST_PROVIDER_FAILURE_RATE", default_value = "0")]
    pub test_provider_failure_rate: String,

    /// Test provider: a file where its answers are kept (JSON lines), so that it remembers
    /// idempotency keys across restarts as a real provider would. Empty: memory only.
    #[arg(long, env = "TEST_PROVIDER_LEDGER", default_value = "")]
    pub test_provider_ledger: String,

    /// Calls to the provider per charge or refund before the message is retried later.
    #[arg(long, env = "PROVIDER_ATTEMPTS", default_value = "3")]
    pub provider_attempts: String,

    /// Longest one provider call may take.
    #[arg(long, env = "PROVIDER_TIMEOUT", default_value = "5s")]
    pub provider_timeout: String,
}

/// payments' validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub provider: TestProviderSettings,
    pub attempts: u32,
    pub timeout: Duration,
}

impl PaymentsArgs {
    pub fn validate(&self, problems: &mut Problems) -> Option<Settings> {
        let provider = problems.check(
            "PAYMENT_PROVIDER (--payment-provider)",
            match self.payment_provider.as_str() {
                "test" => Ok(()),
                other => Err(format!("{other:?}: the only provider is `test`")),
            },
        );
        let latency = problems
            .check("TEST_PROVIDER_LATENCY (--test-provider-latency)", parse_duration(&self.test_provider_latency));
        let failure_rate = problems.check(
            "TEST_PROVIDER_FAILURE_RATE (--test-provider-failure-rate)",
            parse_rate(&self.test_provider_failure_rate),
        );
        let attempts =
            problems.check("PROVIDER_ATTEMPTS (--provider-attempts)", parse_count(&self.provider_attempts, 1, 10));
        let timeout = problems.check("PROVIDER_TIMEOUT (--provider-timeout)", parse_duration(&self.provider_timeout));
        provider?;
        Some(Settings {
            provider: TestProviderSettings {
                latency: latency?,
                failure_rate: failure_rate?,
                ledger: (!self.test_provider_ledger.is_empty()).then(|| self.test_provider_ledger.clone().into()),
            },
            attempts: attempts?,
            timeout: timeout?,
        })
    }
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("{raw:?}: must be a number from 0 to 1")),
    }
}
