//! The test provider: Stripe's test tokens, no money moves. `tok_visa` (and any other
//! `tok_visa…`/`tok_mastercard`) approves; `tok_chargeDeclined` declines with
//! `card_declined`; `tok_chargeDeclinedInsufficientFunds` with `insufficient_funds`; any
//! other token is an unknown payment method. Latency and a rate of simulated outages are
//! configurable for fault runs. Like a real provider it remembers idempotency keys: the same
//! key answers the same receipt (in this process's memory).

use std::{collections::HashMap, sync::Mutex, time::Duration};

use async_trait::async_trait;

use super::{ChargeRequest, Provider, ProviderError, Receipt, RefundRequest};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestProviderSettings {
    pub latency: Duration,
    /// 0–1: the share of calls that fail as unavailable.
    pub failure_rate: f64,
}

#[derive(Debug)]
pub struct TestProvider {
    settings: TestProviderSettings,
    /// Idempotency key → what was answered.
    answered: Mutex<HashMap<String, Result<Receipt, ProviderError>>>,
}

impl TestProvider {
    pub fn new(settings: TestProviderSettings) -> Self {
        Self { settings, answered: Mutex::new(HashMap::new()) }
    }

    async fn call(
        &self,
        key: &str,
        reference_prefix: &str,
        decide: impl FnOnce() -> Result<(), ProviderError>,
    ) -> Result<Receipt, ProviderError> {
        if !self.settings.latency.is_zero() {
            tokio::time::sleep(self.settings.latency).await;
        }
        if let Some(earlier) = self.answered.lock().ok().and_then(|answered| answered.get(key).cloned()) {
            return earlier;
        }
        if self.settings.failure_rate > 0.0 && rand::random::<f64>() < self.settings.failure_rate {
            return Err(ProviderError::Unavailable("simulated outage (TEST_PROVIDER_FAILURE_RATE)".into()));
        }
        let outcome =
            decide().map(|()| Receipt { reference: format!("{reference_prefix}_{}", uuid::Uuid::new_v4().simple()) });
        if let Ok(mut answered) = self.answered.lock() {
            answered.insert(key.to_string(), outcome.clone());
        }
        outcome
    }
}

fn declined(code: &str, message: &str) -> ProviderError {
    ProviderError::Declined { code: code.into(), message: message.into() }
}

#[async_trait]
impl Provider for TestProvider {
    async fn charge(&self, request: &ChargeRequest<'_>) -> Result<Receipt, ProviderError> {
        let token = request.token.expose().to_string();
        self.call(&request.idempotency_key, "ch", move || match token.as_str() {
            t if t.starts_with("tok_visa") || t == "tok_mastercard" || t == "tok_amex" => Ok(()),
            "tok_chargeDeclined" => Err(declined("card_declined", "Your card was declined.")),
            "tok_chargeDeclinedInsufficientFunds" => {
                Err(declined("insufficient_funds", "Your card has insufficient funds."))
            }
            _ => Err(declined("invalid_payment_method", "This payment method cannot be used.")),
        })
        .await
    }

    async fn refund(&self, request: &RefundRequest<'_>) -> Result<Receipt, ProviderError> {
        self.call(&request.idempotency_key, "re", || Ok(())).await
    }
}

#[cfg(test)]
mod tests {
    use mercato_kit::money::Money;

    use super::*;
    use crate::domain::token::CardToken;

    fn provider(failure_rate: f64) -> TestProvider {
        TestProvider::new(TestProviderSettings { latency: Duration::ZERO, failure_rate })
    }

    async fn charge(p: &TestProvider, key: &str, token: &str) -> Result<Receipt, ProviderError> {
        let token = CardToken::parse(token).unwrap();
        let amount = Money::new("USD", 10, 0).unwrap();
        p.charge(&ChargeRequest { idempotency_key: key.into(), amount, token: &token, description: "o".into() }).await
    }

    #[tokio::test]
    async fn tokens_decide_like_stripes() {
        let p = provider(0.0);
        assert!(charge(&p, "a", "tok_visa").await.unwrap().reference.starts_with("ch_"));
        let Err(ProviderError::Declined { code, .. }) = charge(&p, "b", "tok_chargeDeclined").await else { panic!() };
        assert_eq!(code, "card_declined");
        let Err(ProviderError::Declined { code, .. }) = charge(&p, "c", "tok_chargeDeclinedInsufficientFunds").await
        else {
            panic!()
        };
        assert_eq!(code, "insufficient_funds");
        assert!(matches!(charge(&p, "d", "tok_nonsense").await, Err(ProviderError::Declined { .. })));
    }

    #[tokio::test]
    async fn the_same_key_answers_the_same_receipt() {
        let p = provider(0.0);
        let first = charge(&p, "key-1", "tok_visa").await.unwrap();
        assert_eq!(charge(&p, "key-1", "tok_visa").await.unwrap(), first);
        assert_ne!(charge(&p, "key-2", "tok_visa").await.unwrap(), first);
    }

    #[tokio::test]
    async fn outages_are_unavailable_not_declines_and_leave_the_key_free() {
        let p = provider(1.0);
        assert!(matches!(charge(&p, "k", "tok_visa").await, Err(ProviderError::Unavailable(_))));
        assert!(p.answered.lock().unwrap().is_empty());
    }
}
