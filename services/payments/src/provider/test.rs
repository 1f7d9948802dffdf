//! The test provider: Stripe's test tokens, no money moves. `tok_visa` (and any other
//! `tok_visa…`/`tok_mastercard`) approves; `tok_chargeDeclined` declines with
//! `card_declined`; `tok_chargeDeclinedInsufficientFunds` with `insufficient_funds`; any
//! other token is an unknown payment method. Latency and a rate of simulated outages are
//! configurable for fault runs. Like a real provider it remembers idempotency keys: the same
//! key answers the same receipt — in this process's memory, and with a ledger file
//! (`TEST_PROVIDER_LEDGER`) across restarts too, as a real provider's memory outlives a
//! crash of ours. The ledger is also what a fault test audits: one line per call that was
//! answered for the first time, so a key in it twice would be money moved twice.

use std::{
    collections::HashMap,
    io::{BufRead, Write},
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{ChargeRequest, Provider, ProviderError, Receipt, RefundRequest};

#[derive(Debug, Clone, PartialEq)]
pub struct TestProviderSettings {
    pub latency: Duration,
    /// 0–1: the share of calls that fail as unavailable.
    pub failure_rate: f64,
    /// Where answers are kept across restarts (none: memory only).
    pub ledger: Option<PathBuf>,
}

/// One answered call, as the ledger file holds it (a JSON line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub key: String,
    /// What the call was for (the order, for a charge).
    pub description: String,
    /// The receipt's reference, or empty for a decline.
    pub reference: String,
    pub declined_code: String,
    pub declined_message: String,
}

impl LedgerEntry {
    fn outcome(&self) -> Result<Receipt, ProviderError> {
        if self.reference.is_empty() {
            Err(declined(&self.declined_code, &self.declined_message))
        } else {
            Ok(Receipt { reference: self.reference.clone() })
        }
    }
}

/// Every entry of a ledger file (what a fault test audits).
pub fn read_ledger(path: &Path) -> std::io::Result<Vec<LedgerEntry>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        // A line cut short by a kill is a call never answered.
        if let Ok(entry) = serde_json::from_str(&line?) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

#[derive(Debug)]
pub struct TestProvider {
    settings: TestProviderSettings,
    /// Idempotency key → what was answered.
    answered: Mutex<HashMap<String, Result<Receipt, ProviderError>>>,
    ledger: Option<Mutex<std::fs::File>>,
}

impl TestProvider {
    /// Reads the ledger back, if there is one.
    pub fn new(settings: TestProviderSettings) -> std::io::Result<Self> {
        let mut answered = HashMap::new();
        let ledger = match &settings.ledger {
            Some(path) => {
                for entry in read_ledger(path)? {
                    answered.insert(entry.key.clone(), entry.outcome());
                }
                Some(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?))
            }
            None => None,
        };
        Ok(Self { settings, answered: Mutex::new(answered), ledger })
    }

    /// Appends an answer to the ledger; the answer is given only once it is written.
    fn record(
        &self,
        key: &str,
        description: &str,
        outcome: &Result<Receipt, ProviderError>,
    ) -> Result<(), ProviderError> {
        let Some(ledger) = &self.ledger else { return Ok(()) };
        let (reference, code, message) = match outcome {
            Ok(receipt) => (receipt.reference.clone(), String::new(), String::new()),
            Err(ProviderError::Declined { code, message }) => (String::new(), code.clone(), message.clone()),
            Err(ProviderError::Unavailable(_)) => return Ok(()),
        };
        let entry = LedgerEntry {
            key: key.to_string(),
            description: description.to_string(),
            reference,
            declined_code: code,
            declined_message: message,
        };
        let line = serde_json::to_string(&entry).map_err(|e| ProviderError::Unavailable(e.to_string()))? + "\n";
        let mut file = ledger.lock().map_err(|_| ProviderError::Unavailable("ledger lock poisoned".into()))?;
        file.write_all(line.as_bytes()).map_err(|e| ProviderError::Unavailable(format!("ledger: {e}")))
    }

    async fn call(
        &self,
        key: &str,
        description: &str,
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
        let Ok(mut answered) = self.answered.lock() else {
            return Err(ProviderError::Unavailable("provider state poisoned".into()));
        };
        // Two calls with one key at once: the first answer stands.
        if let Some(earlier) = answered.get(key) {
            return earlier.clone();
        }
        self.record(key, description, &outcome)?;
        answered.insert(key.to_string(), outcome.clone());
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
        self.call(&request.idempotency_key, &request.description, "ch", move || match token.as_str() {
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
        self.call(&request.idempotency_key, request.charge_reference, "re", || Ok(())).await
    }

    async fn find_charge(&self, idempotency_key: &str) -> Result<Option<Receipt>, ProviderError> {
        let answered =
            self.answered.lock().map_err(|_| ProviderError::Unavailable("provider state poisoned".into()))?;
        Ok(answered.get(idempotency_key).and_then(|outcome| outcome.clone().ok()))
    }
}

#[cfg(test)]
mod tests {
    use mercato_kit::money::Money;

    use super::*;
    use crate::domain::token::CardToken;

    fn provider(failure_rate: f64) -> TestProvider {
        TestProvider::new(TestProviderSettings { latency: Duration::ZERO, failure_rate, ledger: None }).unwrap()
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
    async fn a_ledger_remembers_answers_across_restarts_and_lists_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        let settings = TestProviderSettings { latency: Duration::ZERO, failure_rate: 0.0, ledger: Some(path.clone()) };
        let first = TestProvider::new(settings.clone()).unwrap();
        let receipt = charge(&first, "charge-1", "tok_visa").await.unwrap();
        charge(&first, "charge-2", "tok_chargeDeclined").await.unwrap_err();
        drop(first);
        let again = TestProvider::new(settings).unwrap();
        assert_eq!(charge(&again, "charge-1", "tok_visa").await.unwrap(), receipt, "same key, same charge");
        let entries = read_ledger(&path).unwrap();
        let keys: Vec<_> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["charge-1", "charge-2"]);
        assert_eq!(entries[1].declined_code, "card_declined");
    }

    #[tokio::test]
    async fn outages_are_unavailable_not_declines_and_leave_the_key_free() {
        let p = provider(1.0);
        assert!(matches!(charge(&p, "k", "tok_visa").await, Err(ProviderError::Unavailable(_))));
        assert!(p.answered.lock().unwrap().is_empty());
    }
}
