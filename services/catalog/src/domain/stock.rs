//! Stock reservation rules.

use std::collections::BTreeMap;

use mercato_kit::domain::Invalid;
use serde::{Deserialize, Serialize};

use super::product::ProductId;

pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: i32 = 1000;
pub const MAX_RESERVATION_ID: usize = 128;

/// Where a reservation is in its life. RESERVED is the only state that holds units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    Reserved,
    Rejected,
    Released,
    Committed,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "RESERVED",
            Self::Rejected => "REJECTED",
            Self::Released => "RELEASED",
            Self::Committed => "COMMITTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RESERVED" => Some(Self::Reserved),
            "REJECTED" => Some(Self::Rejected),
            "RELEASED" => Some(Self::Released),
            "COMMITTED" => Some(Self::Committed),
            _ => None,
        }
    }
}

/// A line that could not be met, as recorded on a REJECTED reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortage {
    pub product_id: String,
    pub requested: i32,
    pub available: i64,
}

/// Validated lines: each product once, sorted by product id so that concurrent reservations
/// lock inventory rows in the same order (no deadlocks on PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines(BTreeMap<String, i32>);

impl Lines {
    /// `raw` is (product_id, quantity) pairs; problems are reported per field path.
    pub fn new(raw: &[(String, i32)]) -> Result<Self, Vec<(String, Invalid)>> {
        let mut problems = Vec::new();
        if raw.is_empty() {
            problems.push(("lines".into(), Invalid::new("must contain at least one line")));
        }
        if raw.len() > MAX_LINES {
            problems.push(("lines".into(), Invalid::from(format!("at most {MAX_LINES} lines"))));
        }
        let mut lines = BTreeMap::new();
        for (i, (product_id, quantity)) in raw.iter().enumerate() {
            match ProductId::parse(product_id) {
                Ok(id) => {
                    if lines.insert(String::from(id), *quantity).is_some() {
                        problems.push((format!("lines[{i}].product_id"), "appears in more than one line".into()));
                    }
                }
                Err(e) => problems.push((format!("lines[{i}].product_id"), e)),
            }
            if !(1..=MAX_QUANTITY).contains(quantity) {
                problems.push((format!("lines[{i}].quantity"), Invalid::from(format!("must be 1-{MAX_QUANTITY}"))));
            }
        }
        if problems.is_empty() { Ok(Self(lines)) } else { Err(problems) }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, i32)> {
        self.0.iter().map(|(id, q)| (id.as_str(), *q))
    }

    pub fn from_stored(stored: impl IntoIterator<Item = (String, i32)>) -> Self {
        Self(stored.into_iter().collect())
    }
}

/// A reservation's id, chosen by the caller (the saga) so a retried call is a replay: 1-128
/// printable ASCII characters without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReservationId(String);

impl ReservationId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > MAX_RESERVATION_ID || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("must be 1-{MAX_RESERVATION_ID} printable characters without spaces").into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The order a reservation is for: at most 128 characters (empty for tools and tests).
pub fn order_ref(raw: &str) -> Result<String, Invalid> {
    if raw.len() > MAX_RESERVATION_ID {
        return Err(format!("must be at most {MAX_RESERVATION_ID} characters").into());
    }
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "364dc957-51ca-4f13-889e-665df2d6633f";
    const B: &str = "333a6b3e-b603-4705-bb55-9b62f5e42e60";

    #[test]
    fn lines_are_sorted_and_checked() {
        let lines = Lines::new(&[(A.into(), 2), (B.into(), 1)]).unwrap();
        let ids: Vec<_> = lines.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [B, A]);
        let problems = Lines::new(&[(A.into(), 0), (A.into(), 1), ("x".into(), 1)]).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["lines[0].quantity", "lines[1].product_id", "lines[2].product_id"]);
        assert!(Lines::new(&[]).is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            ReservationStatus::Reserved,
            ReservationStatus::Rejected,
            ReservationStatus::Released,
            ReservationStatus::Committed,
        ] {
            assert_eq!(ReservationStatus::parse(s.as_str()), Some(s));
        }
    }
}
