//! A payment: one per order, charged once, refunded at most once.

use mercato::payments::v1 as pb;
use mercato_kit::{domain::Invalid, money::Money};

use super::token::CardToken;

mercato_kit::uuid_id!(
    /// A payment's id, chosen by the saga: the idempotency key of its charge and refund.
    PaymentId,
    "payment"
);

/// Where a payment is. A payment row is written with the outcome of its charge, so there is
/// no stored "pending": until then, there is no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Completed,
    Failed,
    /// Returned in full, or cancelled before anything was taken (a refund that arrived
    /// before its charge: the late charge then takes nothing).
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Refunded => "REFUNDED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "COMPLETED" => Some(Self::Completed),
            "FAILED" => Some(Self::Failed),
            "REFUNDED" => Some(Self::Refunded),
            _ => None,
        }
    }

    pub fn to_pb(self) -> pb::PaymentStatus {
        match self {
            Self::Completed => pb::PaymentStatus::Completed,
            Self::Failed => pb::PaymentStatus::Failed,
            Self::Refunded => pb::PaymentStatus::Refunded,
        }
    }
}

/// A user or order reference as another service gave it.
pub fn reference(raw: &str) -> Result<String, Invalid> {
    match raw.len() {
        0 => Err("must not be empty".into()),
        1..=128 => Ok(raw.to_string()),
        _ => Err("must be at most 128 characters".into()),
    }
}

/// A charge the saga asked for, validated.
#[derive(Debug, Clone)]
pub struct Charge {
    pub id: PaymentId,
    pub order_id: String,
    pub user_id: String,
    pub amount: Money,
    pub token: CardToken,
}

/// An amount to charge: positive.
pub fn amount(money: Option<&mercato::google::r#type::Money>) -> Result<Money, Invalid> {
    let money = money.ok_or(Invalid::new("must be set"))?;
    let amount = Money::try_from(money).map_err(|e| Invalid::from(e.to_string()))?;
    if amount.is_negative() || amount.is_zero() {
        return Err("must be positive".into());
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in [PaymentStatus::Completed, PaymentStatus::Failed, PaymentStatus::Refunded] {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::parse("PENDING"), None);
    }

    #[test]
    fn amounts_must_be_positive_and_valid() {
        let usd = |units, nanos| mercato::google::r#type::Money { currency_code: "USD".into(), units, nanos };
        assert!(amount(Some(&usd(12, 500_000_000))).is_ok());
        assert!(amount(Some(&usd(0, 0))).is_err());
        assert!(amount(Some(&usd(-1, 0))).is_err());
        assert!(amount(None).is_err());
        let bad = mercato::google::r#type::Money { currency_code: "usd".into(), units: 1, nanos: 0 };
        assert!(amount(Some(&bad)).is_err());
    }
}
