//! The port to the payment provider (the anti-corruption layer): the rest of payments speaks
//! of charges, declines and refunds, never of a provider's API. Every call carries an
//! idempotency key derived from the payment id, as real providers require, so a call
//! repeated after a crash or a timeout takes the money once.

pub mod test;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use mercato_kit::{backoff, money::Money};

use crate::domain::token::CardToken;

/// A charge as the provider is asked for it.
#[derive(Debug)]
pub struct ChargeRequest<'a> {
    pub idempotency_key: String,
    pub amount: Money,
    pub token: &'a CardToken,
    /// For the provider's dashboard: the order it is for.
    pub description: String,
}

/// A refund of a whole charge.
#[derive(Debug)]
pub struct RefundRequest<'a> {
    pub idempotency_key: String,
    pub charge_reference: &'a str,
    /// What was charged, when payments knows it; `None` refunds the whole charge, whatever
    /// it was.
    pub amount: Option<Money>,
}

/// What the provider answered for a call it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id of the charge or refund (`ch_…`, `re_…`).
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The card or the bank said no: final, shown to the customer.
    #[error("declined ({code}): {message}")]
    Declined { code: String, message: String },
    /// The provider could not answer (outage, timeout): the same call may work later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

/// See the module docs.
#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    async fn charge(&self, request: &ChargeRequest<'_>) -> Result<Receipt, ProviderError>;
    async fn refund(&self, request: &RefundRequest<'_>) -> Result<Receipt, ProviderError>;
    /// The charge made with `idempotency_key`, if the provider took one (and the money):
    /// what a refund asks when payments has no record of the charge, because payments died
    /// between the provider's answer and its own commit.
    async fn find_charge(&self, idempotency_key: &str) -> Result<Option<Receipt>, ProviderError>;
}

/// A provider with the calling policy around it: a timeout per call, and transient failures
/// retried with backoff and full jitter up to `attempts` calls.
#[derive(Debug, Clone)]
pub struct Calls {
    pub provider: Arc<dyn Provider>,
    pub attempts: u32,
    pub timeout: Duration,
}

const FIRST_WAIT: Duration = Duration::from_millis(50);
const MAX_WAIT: Duration = Duration::from_millis(800);

impl Calls {
    pub async fn charge(&self, request: &ChargeRequest<'_>) -> Result<Receipt, ProviderError> {
        self.with_retries(|| self.provider.charge(request)).await
    }

    pub async fn refund(&self, request: &RefundRequest<'_>) -> Result<Receipt, ProviderError> {
        self.with_retries(|| self.provider.refund(request)).await
    }

    pub async fn find_charge(&self, idempotency_key: &str) -> Result<Option<Receipt>, ProviderError> {
        self.with_retries(|| self.provider.find_charge(idempotency_key)).await
    }

    async fn with_retries<'a, T, F, Fut>(&self, call: F) -> Result<T, ProviderError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>> + 'a,
    {
        let mut attempt = 1;
        loop {
            let outcome = match tokio::time::timeout(self.timeout, call()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ProviderError::Unavailable(format!("no answer within {:?}", self.timeout))),
            };
            match outcome {
                Err(ProviderError::Unavailable(why)) if attempt < self.attempts => {
                    let wait = backoff::full_jitter(backoff::exponential(FIRST_WAIT, MAX_WAIT, attempt));
                    tracing::info!(attempt, ?wait, error = %why, "provider unavailable; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}
