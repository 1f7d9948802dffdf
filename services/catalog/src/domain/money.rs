//! Prices: an ISO 4217 currency code plus units and nanos, exactly as google.type.Money, so
//! no amount is ever rounded through a float.

/// A non-negative amount of money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub currency: String,
    pub units: i64,
    pub nanos: i32,
}

const NANOS_PER_UNIT: i32 = 1_000_000_000;

impl Money {
    /// Checks a price: three upper-case letters, units ≥ 0, 0 ≤ nanos < 1e9. Returns the problem
    /// and the sub-field it concerns.
    pub fn price(currency: &str, units: i64, nanos: i32) -> Result<Self, (&'static str, String)> {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(("currency_code", format!("{currency:?} is not an ISO 4217 code such as USD")));
        }
        if units < 0 {
            return Err(("units", "must not be negative".into()));
        }
        if !(0..NANOS_PER_UNIT).contains(&nanos) {
            return Err(("nanos", "must be between 0 and 999,999,999".into()));
        }
        Ok(Self { currency: currency.to_string(), units, nanos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_must_be_well_formed_and_non_negative() {
        assert!(Money::price("USD", 12, 500_000_000).is_ok());
        assert_eq!(Money::price("usd", 1, 0).unwrap_err().0, "currency_code");
        assert_eq!(Money::price("USD", -1, 0).unwrap_err().0, "units");
        assert_eq!(Money::price("USD", 0, -5).unwrap_err().0, "nanos");
        assert_eq!(Money::price("USD", 0, 1_000_000_000).unwrap_err().0, "nanos");
    }
}
