//! payments' business counters (docs/observability.md, "Business"): charges authorized and
//! declined, counted when the consumer's transaction that settled the charge has committed
//! (`Delivery::on_commit`), so a batch rolled back and handled again one by one counts once.

use mercato_kit::money::Currency;
use prometheus::{IntCounterVec, Opts, Registry};

use crate::domain::decline::DeclineCode;

/// The handles of payments' business metrics, registered once per server.
#[derive(Debug, Clone)]
pub struct PaymentMetrics {
    authorized: IntCounterVec,
    declines: IntCounterVec,
}

impl PaymentMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let authorized = IntCounterVec::new(
            Opts::new("mercato_payments_authorized_total", "Charges the provider authorized, settled by payments."),
            &["currency"],
        )?;
        let declines = IntCounterVec::new(
            Opts::new("mercato_payment_declines_total", "Charges declined, by payments' decline code."),
            &["reason"],
        )?;
        registry.register(Box::new(authorized.clone()))?;
        registry.register(Box::new(declines.clone()))?;
        // Every code exported from the start, at 0: a rate over a series that appears only
        // with its first decline misses that decline.
        for code in DeclineCode::ALL {
            declines.with_label_values(&[code.as_str()]);
        }
        Ok(Self { authorized, declines })
    }

    pub fn authorized(&self, currency: Currency) {
        self.authorized.with_label_values(&[currency.as_str()]).inc();
    }

    /// The label is the mapped code, never the provider's own text: the set stays bounded.
    pub fn declined(&self, code: DeclineCode) {
        self.declines.with_label_values(&[code.as_str()]).inc();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mercato_kit::{metrics::Metrics, money::Currency};

    use super::*;

    #[test]
    fn declines_are_exported_by_code_from_the_start_and_charges_by_currency() {
        let server = Metrics::new("payments", "test");
        let payments = PaymentMetrics::register(server.registry()).unwrap();
        payments.authorized(Currency::parse("EUR").unwrap());
        payments.declined(DeclineCode::from_provider("something new"));
        let text = server.encode();
        assert!(text.contains(r#"mercato_payments_authorized_total{currency="EUR"} 1"#), "{text}");
        assert!(text.contains(r#"mercato_payment_declines_total{reason="processing_error"} 1"#), "{text}");
        for code in ["card_declined", "insufficient_funds", "invalid_payment_method"] {
            assert!(text.contains(&format!(r#"mercato_payment_declines_total{{reason="{code}"}} 0"#)), "{text}");
        }
    }
}
