//! A shipment's lifecycle and contents. The lifecycle only moves forward: PENDING, then
//! DISPATCHED, then DELIVERED; or PENDING, then CANCELLED. Nothing leaves DELIVERED or
//! CANCELLED, and nothing dispatched is cancelled (the parcel has left).

use std::time::Duration;

use chrono::{DateTime, Utc};
use mercato::{orders::v1 as orders, shipping::v1 as pb};
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentStatus {
    Pending,
    Dispatched,
    Delivered,
    Cancelled,
}

impl ShipmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Dispatched => "DISPATCHED",
            Self::Delivered => "DELIVERED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Dispatched, Self::Delivered, Self::Cancelled].into_iter().find(|s| s.as_str() == raw)
    }

    pub fn to_pb(self) -> pb::ShipmentStatus {
        match self {
            Self::Pending => pb::ShipmentStatus::Pending,
            Self::Dispatched => pb::ShipmentStatus::Dispatched,
            Self::Delivered => pb::ShipmentStatus::Delivered,
            Self::Cancelled => pb::ShipmentStatus::Cancelled,
        }
    }

    /// The status a due-time moves a shipment to; `None` for one with nothing left to wait for.
    pub fn next_when_due(self) -> Option<Self> {
        match self {
            Self::Pending => Some(Self::Dispatched),
            Self::Dispatched => Some(Self::Delivered),
            Self::Delivered | Self::Cancelled => None,
        }
    }

    /// Whether an order's cancellation still stops the shipment.
    pub fn can_cancel(self) -> bool {
        self == Self::Pending
    }
}

/// Where a shipment goes: the order's address as it was confirmed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub recipient_name: String,
    pub address_lines: Vec<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country_code: String,
    pub phone: String,
}

impl From<orders::Address> for Address {
    fn from(a: orders::Address) -> Self {
        Self {
            recipient_name: a.recipient_name,
            address_lines: a.address_lines,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country_code: a.country_code,
            phone: a.phone,
        }
    }
}

impl From<Address> for pb::Address {
    fn from(a: Address) -> Self {
        Self {
            recipient_name: a.recipient_name,
            address_lines: a.address_lines,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country_code: a.country_code,
            phone: a.phone,
        }
    }
}

/// One product and quantity in a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub product_id: String,
    pub product_name: String,
    pub quantity: i32,
}

impl From<&orders::OrderLine> for Item {
    fn from(line: &orders::OrderLine) -> Self {
        Self { product_id: line.product_id.clone(), product_name: line.product_name.clone(), quantity: line.quantity }
    }
}

impl From<Item> for pb::ShipmentItem {
    fn from(i: Item) -> Self {
        Self { product_id: i.product_id, product_name: i.product_name, quantity: i.quantity }
    }
}

/// `delay` after `now`; a delay too long for the calendar means never (the end of time).
pub fn after(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A new tracking number: "MC", 12 random digits and a Luhn check digit, so a mistyped number
/// is told apart from an unknown one. 10^12 numbers make a collision unlikely; the unique
/// index refuses one, and the consumer's retry draws again.
pub fn tracking_number() -> String {
    let digits: Vec<u32> = (0..12).map(|_| rand::rng().random_range(0..10)).collect();
    let body: String = digits.iter().map(|d| char::from_digit(*d, 10).unwrap_or('0')).collect();
    format!("MC{body}{}", luhn_check_digit(&digits))
}

/// The digit that makes `digits` followed by it pass the Luhn check.
fn luhn_check_digit(digits: &[u32]) -> u32 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            // The check digit will sit at the right, so the rightmost payload digit is doubled.
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                *d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// Whether a tracking number is one [`tracking_number`] could have made.
pub fn is_tracking_number(raw: &str) -> bool {
    let Some(rest) = raw.strip_prefix("MC") else { return false };
    let digits: Option<Vec<u32>> = rest.chars().map(|c| c.to_digit(10)).collect();
    match digits {
        Some(digits) if digits.len() == 13 => luhn_check_digit(&digits[..12]) == digits[12],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_only_moves_forward() {
        use ShipmentStatus::*;
        assert_eq!(Pending.next_when_due(), Some(Dispatched));
        assert_eq!(Dispatched.next_when_due(), Some(Delivered));
        assert_eq!(Delivered.next_when_due(), None);
        assert_eq!(Cancelled.next_when_due(), None);
        assert!(Pending.can_cancel());
        assert!(!Dispatched.can_cancel() && !Delivered.can_cancel() && !Cancelled.can_cancel());
        for status in [Pending, Dispatched, Delivered, Cancelled] {
            assert_eq!(ShipmentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ShipmentStatus::parse("LOST"), None);
    }

    #[test]
    fn tracking_numbers_carry_a_check_digit() {
        for _ in 0..200 {
            let number = tracking_number();
            assert_eq!(number.len(), 15, "{number}");
            assert!(is_tracking_number(&number), "{number}");
            // Any single mistyped digit is caught.
            let mut chars: Vec<char> = number.chars().collect();
            let d = chars[5].to_digit(10).unwrap_or(0);
            chars[5] = char::from_digit((d + 1) % 10, 10).unwrap_or('0');
            assert!(!is_tracking_number(&chars.iter().collect::<String>()));
        }
        // The textbook example: 7992739871 has check digit 3.
        assert_eq!(luhn_check_digit(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1]), 3);
        assert!(!is_tracking_number("XX1234567890123"));
        assert!(!is_tracking_number("MC123"));
    }
}
