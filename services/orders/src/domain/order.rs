//! What an order is made of, checked: the caller's idempotency key, the shipping address, the
//! owner's cancellation note (the payment token is the kit's `CardToken`). And an order's
//! status as customers see it, which is coarser than the saga's step.

use mercato_kit::domain::Invalid;
use serde::{Deserialize, Serialize};

use super::saga::Step;

mercato_kit::uuid_id!(
    /// An order's id.
    OrderId,
    "order"
);

/// Makes retries of PlaceOrder safe: one user, one key, one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err("must not be empty (send a fresh UUID per checkout, the same one on retries)".into());
        }
        if raw.chars().count() > 128 {
            return Err("must be at most 128 characters".into());
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A postal address, as stored with the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub recipient_name: String,
    pub address_lines: Vec<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country_code: String,
    pub phone: String,
}

/// One problem of an address: the field (relative to the address) and why.
pub type AddressProblem = (&'static str, String);

impl Address {
    /// Every problem at once, so a form can show them all.
    pub fn check(&self) -> Vec<AddressProblem> {
        let mut problems = Vec::new();
        let mut text = |field: &'static str, value: &str, min: usize, max: usize| {
            let n = value.trim().chars().count();
            if n < min {
                problems.push((field, "must not be empty".to_string()));
            } else if value.chars().count() > max {
                problems.push((field, format!("must be at most {max} characters")));
            } else if value.chars().any(char::is_control) {
                problems.push((field, "must not contain control characters".to_string()));
            }
        };
        text("recipient_name", &self.recipient_name, 1, 100);
        text("city", &self.city, 1, 100);
        text("region", &self.region, 0, 100);
        text("postal_code", &self.postal_code, 0, 20);
        match self.address_lines.len() {
            0 => problems.push(("address_lines", "must have 1 to 3 lines".to_string())),
            1..=3 => {
                for line in &self.address_lines {
                    if line.trim().is_empty() {
                        problems.push(("address_lines", "must not hold an empty line".to_string()));
                    } else if line.chars().count() > 200 || line.chars().any(char::is_control) {
                        problems.push((
                            "address_lines",
                            "each line must be at most 200 characters, without control characters".to_string(),
                        ));
                    }
                }
            }
            _ => problems.push(("address_lines", "must have at most 3 lines".to_string())),
        }
        if self.country_code.len() != 2 || !self.country_code.bytes().all(|b| b.is_ascii_uppercase()) {
            problems.push(("country_code", "must be an ISO 3166-1 alpha-2 code in upper case, such as DE".to_string()));
        }
        if !self.phone.is_empty() && !is_e164(&self.phone) {
            problems.push(("phone", "must be in E.164 format, such as +14155550123".to_string()));
        }
        problems
    }
}

fn is_e164(phone: &str) -> bool {
    phone
        .strip_prefix('+')
        .is_some_and(|digits| (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The owner's reason for cancelling: at most 500 characters.
pub fn cancel_note(raw: &str) -> Result<String, Invalid> {
    if raw.chars().count() > 500 {
        return Err("must be at most 500 characters".into());
    }
    Ok(raw.trim().to_string())
}

/// An order's status, as customers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    StockReserved,
    Paid,
    Confirmed,
    Cancelling,
    Cancelled,
}

impl Status {
    pub fn of(step: Step) -> Self {
        match step {
            Step::ReservingStock => Self::Pending,
            Step::ChargingPayment => Self::StockReserved,
            Step::CommittingStock => Self::Paid,
            Step::Confirmed => Self::Confirmed,
            Step::ReleasingStock(_) => Self::Cancelling,
            Step::Cancelled(_) => Self::Cancelled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::StockReserved => "STOCK_RESERVED",
            Self::Paid => "PAID",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelling => "CANCELLING",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::StockReserved, Self::Paid, Self::Confirmed, Self::Cancelling, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Confirmed | Self::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::saga::Reason;

    fn address() -> Address {
        Address {
            recipient_name: "Ada Lovelace".into(),
            address_lines: vec!["12 St James's Square".into()],
            city: "London".into(),
            region: String::new(),
            postal_code: "SW1Y 4JH".into(),
            country_code: "GB".into(),
            phone: "+442079460000".into(),
        }
    }

    #[test]
    fn a_complete_address_passes_and_every_problem_of_a_bad_one_is_named() {
        assert!(address().check().is_empty());
        let bad = Address {
            recipient_name: " ".into(),
            address_lines: vec![],
            city: "x".repeat(101),
            country_code: "gb".into(),
            phone: "0207".into(),
            ..address()
        };
        let fields: Vec<_> = bad.check().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["recipient_name", "city", "address_lines", "country_code", "phone"]);
        let four_lines = Address { address_lines: vec!["a".into(); 4], ..address() };
        assert_eq!(four_lines.check().len(), 1);
    }

    #[test]
    fn keys_and_notes_are_bounded() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
        assert!(IdempotencyKey::parse("0b9f1d8e-checkout-1").is_ok());
        assert!(cancel_note(&"x".repeat(501)).is_err());
    }

    #[test]
    fn statuses_follow_the_saga_and_read_back() {
        assert_eq!(Status::of(Step::ChargingPayment), Status::StockReserved);
        assert_eq!(Status::of(Step::ReleasingStock(Reason::Timeout)), Status::Cancelling);
        for s in [Status::Pending, Status::Paid, Status::Confirmed, Status::Cancelled] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert!(Status::Cancelled.is_final() && !Status::Cancelling.is_final());
    }
}
