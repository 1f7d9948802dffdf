//! Money that cannot be mixed across currencies, rounded by accident, or lost through a float.
//!
//! # Representation
//!
//! A [`Money`] is a [`Currency`] plus the whole amount as one signed count of billionths of the
//! currency's unit (an `i128`). That is exactly the precision of `google.type.Money` (`units` plus
//! `nanos`), so every amount that arrives on the wire converts to a `Money` and back without
//! change, and every `Money` converts to the wire type: the range is kept to what
//! `google.type.Money` can carry (`units` within `i64`), and anything beyond is
//! [`MoneyError::Overflow`]. Keeping a single count instead of the wire's two fields means the
//! arithmetic never has to carry nanos into units or reconcile their signs.
//!
//! # Rounding
//!
//! Addition, subtraction, [`Money::sum`] and multiplication by a whole quantity
//! ([`Money::times`]) are exact: no rounding ever happens there, so `0.1 + 0.2` is `0.3`.
//!
//! The only rounding is to the currency's minor unit, when an amount must become what a payment
//! provider charges (Stripe, for example, takes integer cents): [`Money::to_minor_units`] and
//! [`Money::round_to_minor_units`]. Both round half to even (banker's rounding): an amount exactly
//! halfway between two minor units goes to the one that is even. Always rounding halves up would
//! bias a total of many rounded amounts upwards; half to even errs up as often as down.
//!
//! ```text
//! USD  0.125 → 12 cents    (halfway, 12 is even)
//! USD  0.135 → 14 cents    (halfway, 14 is even)
//! USD -0.125 → -12 cents   (symmetric around zero)
//! USD  0.126 → 13 cents    (not halfway: nearest)
//! JPY  0.5   → 0 yen       (JPY has no minor unit)
//! ```

use std::fmt;
use std::str::FromStr;

use mercato::google::r#type::Money as ProtoMoney;

/// Billionths per unit: the resolution of `google.type.Money`'s `nanos`.
const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// The largest magnitude `google.type.Money` allows in `nanos`.
const MAX_NANOS: i32 = 999_999_999;

/// Why an amount of money could not be built or combined.
///
/// The messages are written to follow a field path ("invalid product.price.nanos: must be …"),
/// which [`MoneyError::field`] helps to build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0:?} is not an ISO 4217 code such as USD")]
    InvalidCurrency(String),
    #[error("must be between -999,999,999 and 999,999,999")]
    NanosOutOfRange,
    #[error("must have the same sign as units (or units must be zero)")]
    SignMismatch,
    #[error("must not be negative")]
    Negative,
    #[error("cannot combine {left} with {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("is out of range: units must fit in a 64-bit integer")]
    Overflow,
}

impl MoneyError {
    /// The `google.type.Money` sub-field the problem concerns, so that a caller can report e.g.
    /// `product.price.nanos`. A negative amount is reported against `units`, which carries the
    /// sign of a `google.type.Money`; mismatches and overflows concern the amount as a whole and
    /// are reported against `units` too.
    pub fn field(&self) -> &'static str {
        match self {
            Self::InvalidCurrency(_) => "currency_code",
            Self::NanosOutOfRange | Self::SignMismatch => "nanos",
            Self::Negative | Self::CurrencyMismatch { .. } | Self::Overflow => "units",
        }
    }
}

/// An ISO 4217 currency code: three ASCII upper-case letters.
///
/// Only the shape is checked, not membership of the current ISO list, which changes over time
/// and would otherwise have to be redeployed into every service.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(MoneyError::InvalidCurrency(code.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        // `parse` admits only ASCII, so this cannot fail; XXX is ISO 4217's "no currency".
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// How many decimal digits the currency's minor unit has (2 for USD cents, 0 for JPY).
    ///
    /// The table follows the minor-unit column of ISO 4217; codes it does not single out
    /// (including ones unknown to it) get the common 2.
    pub fn minor_unit_digits(self) -> u8 {
        match &self.0 {
            b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG" | b"RWF" | b"UGX"
            | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
            b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
            b"CLF" | b"UYW" => 4,
            _ => 2,
        }
    }

    /// Billionths of the unit in one minor unit (10,000,000 for USD).
    fn nanos_per_minor_unit(self) -> i128 {
        // At most 4 minor digits, so the exponent stays within 5..=9.
        10_i128.pow(9_u32.saturating_sub(u32::from(self.minor_unit_digits())))
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::parse(code)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Currency").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// An amount in one currency, exact to a billionth of the unit. See the module docs for the
/// representation and the rounding rules.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Money {
    currency: Currency,
    /// The whole amount in billionths of the unit; always within `google.type.Money`'s range.
    nanos: i128,
}

impl Money {
    /// Builds an amount from `google.type.Money`'s parts, checked as that type requires: nanos
    /// within ±999,999,999 and of the same sign as units (either may be zero).
    pub fn new(currency: &str, units: i64, nanos: i32) -> Result<Self, MoneyError> {
        let currency = Currency::parse(currency)?;
        if !(-MAX_NANOS..=MAX_NANOS).contains(&nanos) {
            return Err(MoneyError::NanosOutOfRange);
        }
        if (units > 0 && nanos < 0) || (units < 0 && nanos > 0) {
            return Err(MoneyError::SignMismatch);
        }
        // |units| · 10⁹ + |nanos| is far inside i128 and, by construction, inside the wire range.
        Ok(Self { currency, nanos: i128::from(units) * NANOS_PER_UNIT + i128::from(nanos) })
    }

    /// Like [`Money::new`], for prices and other amounts that must not be negative.
    pub fn price(currency: &str, units: i64, nanos: i32) -> Result<Self, MoneyError> {
        let money = Self::new(currency, units, nanos)?;
        if money.is_negative() {
            return Err(MoneyError::Negative);
        }
        Ok(money)
    }

    pub fn zero(currency: Currency) -> Self {
        Self { currency, nanos: 0 }
    }

    /// An amount given in the currency's minor unit (cents for USD, yen for JPY), as payment
    /// providers report it. Every `i64` count of minor units fits, since a minor unit is never
    /// larger than the unit.
    pub fn from_minor_units(currency: Currency, minor_units: i64) -> Self {
        Self { currency, nanos: i128::from(minor_units) * currency.nanos_per_minor_unit() }
    }

    /// The amount in billionths, if it is within what `google.type.Money` can carry.
    fn checked(currency: Currency, nanos: i128) -> Result<Self, MoneyError> {
        if i64::try_from(nanos / NANOS_PER_UNIT).is_err() {
            return Err(MoneyError::Overflow);
        }
        Ok(Self { currency, nanos })
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The whole units, as in `google.type.Money` (truncated towards zero, so of the same sign
    /// as [`Money::nanos`]).
    pub fn units(&self) -> i64 {
        // Every constructor keeps the units within i64, so the fallback is never taken.
        i64::try_from(self.nanos / NANOS_PER_UNIT).unwrap_or(if self.nanos < 0 { i64::MIN } else { i64::MAX })
    }

    /// The billionths beyond [`Money::units`], as in `google.type.Money` (same sign as units).
    pub fn nanos(&self) -> i32 {
        // A remainder of a division by 10⁹ always fits an i32.
        i32::try_from(self.nanos % NANOS_PER_UNIT).unwrap_or(0)
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    fn same_currency(self, other: Self) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency })
        }
    }

    /// Exact sum; both amounts must be in the same currency.
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        self.same_currency(other)?;
        Self::checked(self.currency, self.nanos.checked_add(other.nanos).ok_or(MoneyError::Overflow)?)
    }

    /// Exact difference; both amounts must be in the same currency.
    pub fn checked_sub(self, other: Self) -> Result<Self, MoneyError> {
        self.same_currency(other)?;
        Self::checked(self.currency, self.nanos.checked_sub(other.nanos).ok_or(MoneyError::Overflow)?)
    }

    /// The exact total of `quantity` items at this price (an order line).
    pub fn times(self, quantity: u32) -> Result<Self, MoneyError> {
        Self::checked(self.currency, self.nanos.checked_mul(i128::from(quantity)).ok_or(MoneyError::Overflow)?)
    }

    /// The exact total of `amounts`, all of which must be in `currency`; nothing to add gives
    /// zero of that currency.
    ///
    /// Only the total has to fit `google.type.Money`, not every partial sum, so the result does
    /// not depend on the order of the amounts.
    pub fn sum(currency: Currency, amounts: impl IntoIterator<Item = Self>) -> Result<Self, MoneyError> {
        let total = Self::zero(currency);
        let mut nanos: i128 = 0;
        for amount in amounts {
            total.same_currency(amount)?;
            nanos = nanos.checked_add(amount.nanos).ok_or(MoneyError::Overflow)?;
        }
        Self::checked(currency, nanos)
    }

    /// The amount as a whole number of minor units (e.g. the integer cents a payment provider
    /// charges), rounded half to even. Fails only if that count does not fit an `i64`.
    pub fn to_minor_units(self) -> Result<i64, MoneyError> {
        let minor = round_half_even(self.nanos, self.currency.nanos_per_minor_unit());
        i64::try_from(minor).map_err(|_| MoneyError::Overflow)
    }

    /// The amount rounded half to even to the currency's minor unit (USD 0.125 → USD 0.12).
    ///
    /// Within a minor unit of the very edge of `google.type.Money`'s range (units near ±`i64::MAX`),
    /// where rounding away from zero would leave that range, the amount is rounded towards zero
    /// instead, so that the result can still be sent.
    #[must_use]
    pub fn round_to_minor_units(self) -> Self {
        let step = self.currency.nanos_per_minor_unit();
        let rounded = round_half_even(self.nanos, step).checked_mul(step);
        match rounded.map(|nanos| Self::checked(self.currency, nanos)) {
            Some(Ok(money)) => money,
            // Truncation moves towards zero, which stays in range.
            _ => Self { currency: self.currency, nanos: self.nanos / step * step },
        }
    }
}

/// `value / step`, rounded to the nearest integer with ties going to the even one. `step` is
/// positive.
fn round_half_even(value: i128, step: i128) -> i128 {
    let quotient = value / step;
    // The remainder has the sign of `value` and is smaller than `step` in magnitude, so doubling
    // its magnitude cannot overflow for the steps used here (at most 10⁹).
    let twice_remainder = (value % step).unsigned_abs() * 2;
    let step = step.unsigned_abs();
    let away_from_zero = twice_remainder > step || (twice_remainder == step && quotient % 2 != 0);
    if away_from_zero { quotient + value.signum() } else { quotient }
}

impl fmt::Display for Money {
    /// `USD 12.50`: at least the currency's minor digits, and more only when the amount has
    /// non-zero digits beyond them (`USD 0.000000001`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.is_negative() { "-" } else { "" };
        // unsigned_abs: i64::MIN units have no positive i64 counterpart.
        let units = (self.nanos / NANOS_PER_UNIT).unsigned_abs();
        let fraction = format!("{:09}", (self.nanos % NANOS_PER_UNIT).unsigned_abs());
        let significant = fraction.trim_end_matches('0').len();
        let digits = significant.max(usize::from(self.currency.minor_unit_digits()));
        let fraction = fraction.get(..digits).unwrap_or(&fraction);
        if fraction.is_empty() {
            write!(f, "{} {sign}{units}", self.currency)
        } else {
            write!(f, "{} {sign}{units}.{fraction}", self.currency)
        }
    }
}

impl From<Money> for ProtoMoney {
    fn from(money: Money) -> Self {
        Self { currency_code: money.currency.as_str().to_owned(), units: money.units(), nanos: money.nanos() }
    }
}

impl TryFrom<&ProtoMoney> for Money {
    type Error = MoneyError;

    fn try_from(money: &ProtoMoney) -> Result<Self, Self::Error> {
        Self::new(&money.currency_code, money.units, money.nanos)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn usd(units: i64, nanos: i32) -> Money {
        Money::new("USD", units, nanos).unwrap()
    }

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn currencies_are_three_upper_case_ascii_letters() {
        assert_eq!(currency("USD").as_str(), "USD");
        assert_eq!("EUR".parse::<Currency>().unwrap(), currency("EUR"));
        for bad in ["usd", "US", "USDT", "", "U5D", "ÜSD", "US "] {
            assert_eq!(Currency::parse(bad), Err(MoneyError::InvalidCurrency(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn currencies_show_their_code() {
        assert_eq!(format!("{:?}", currency("USD")), r#"Currency("USD")"#);
        assert_eq!(currency("USD").to_string(), "USD");
    }

    #[test]
    fn an_invalid_currency_is_reported_against_currency_code() {
        let error = Money::new("usd", 1, 0).unwrap_err();
        assert_eq!(error.field(), "currency_code");
        assert_eq!(error.to_string(), r#""usd" is not an ISO 4217 code such as USD"#);
    }

    #[test]
    fn nanos_must_be_within_a_unit() {
        assert!(Money::new("USD", 0, 999_999_999).is_ok());
        assert!(Money::new("USD", 0, -999_999_999).is_ok());
        for nanos in [1_000_000_000, -1_000_000_000, i32::MAX, i32::MIN] {
            let error = Money::new("USD", 0, nanos).unwrap_err();
            assert_eq!(error, MoneyError::NanosOutOfRange);
            assert_eq!(error.field(), "nanos");
        }
    }

    #[test]
    fn units_and_nanos_must_agree_in_sign() {
        assert_eq!(Money::new("USD", 1, -1), Err(MoneyError::SignMismatch));
        assert_eq!(Money::new("USD", -1, 1), Err(MoneyError::SignMismatch));
        assert_eq!(MoneyError::SignMismatch.field(), "nanos");
        assert!(Money::new("USD", 0, -1).is_ok());
        assert!(Money::new("USD", -1, 0).is_ok());
        assert!(Money::new("USD", -1, -1).is_ok());
    }

    #[test]
    fn prices_must_not_be_negative() {
        assert_eq!(Money::price("USD", -1, 0), Err(MoneyError::Negative));
        assert_eq!(Money::price("USD", 0, -5), Err(MoneyError::Negative));
        assert_eq!(MoneyError::Negative.field(), "units");
        assert_eq!(Money::price("USD", 0, 0).unwrap(), Money::zero(currency("USD")));
        assert_eq!(Money::price("USD", 12, 500_000_000).unwrap(), usd(12, 500_000_000));
        assert_eq!(Money::price("usd", -1, 0), Err(MoneyError::InvalidCurrency("usd".to_owned())));
    }

    #[test]
    fn accessors_split_the_amount_as_google_type_money_does() {
        let money = usd(-1, -750_000_000);
        assert_eq!((money.units(), money.nanos()), (-1, -750_000_000));
        assert_eq!(money.currency(), currency("USD"));
        assert!(money.is_negative());
        assert!(!money.is_zero());
        assert!(Money::zero(currency("USD")).is_zero());
        assert!(!Money::zero(currency("USD")).is_negative());
    }

    #[test]
    fn a_tenth_plus_two_tenths_is_exactly_three_tenths() {
        let sum = usd(0, 100_000_000).checked_add(usd(0, 200_000_000)).unwrap();
        assert_eq!(sum, usd(0, 300_000_000));
    }

    #[test]
    fn subtraction_may_go_below_zero() {
        let difference = usd(1, 0).checked_sub(usd(4, 200_000_000)).unwrap();
        assert_eq!(difference, usd(-3, -200_000_000));
        assert_eq!((difference.units(), difference.nanos()), (-3, -200_000_000));
    }

    #[test]
    fn times_gives_an_exact_line_total() {
        assert_eq!(usd(12, 500_000_000).times(3).unwrap(), usd(37, 500_000_000));
        assert_eq!(usd(0, 1).times(1_000_000_000).unwrap(), usd(1, 0));
        assert!(usd(12, 0).times(0).unwrap().is_zero());
    }

    #[test]
    fn the_sum_of_nothing_is_zero_in_the_given_currency() {
        let total = Money::sum(currency("EUR"), []).unwrap();
        assert_eq!(total, Money::zero(currency("EUR")));
    }

    #[test]
    fn the_sum_of_several_amounts_is_exact() {
        let amounts = [usd(0, 100_000_000), usd(0, 200_000_000), usd(2, 0), usd(-1, -50_000_000)];
        assert_eq!(Money::sum(currency("USD"), amounts).unwrap(), usd(1, 250_000_000));
    }

    #[test]
    fn amounts_in_different_currencies_do_not_mix() {
        let eur = Money::new("EUR", 1, 0).unwrap();
        let mismatch = MoneyError::CurrencyMismatch { left: currency("USD"), right: currency("EUR") };
        assert_eq!(usd(1, 0).checked_add(eur), Err(mismatch.clone()));
        assert_eq!(usd(1, 0).checked_sub(eur), Err(mismatch.clone()));
        assert_eq!(Money::sum(currency("USD"), [usd(1, 0), eur]), Err(mismatch.clone()));
        assert_eq!(Money::sum(currency("EUR"), [usd(1, 0)]).unwrap_err().field(), "units");
        assert_eq!(mismatch.to_string(), "cannot combine USD with EUR");
    }

    #[test]
    fn the_extremes_of_google_type_money_are_representable() {
        let max = usd(i64::MAX, 999_999_999);
        let min = usd(i64::MIN, -999_999_999);
        assert_eq!((max.units(), max.nanos()), (i64::MAX, 999_999_999));
        assert_eq!((min.units(), min.nanos()), (i64::MIN, -999_999_999));
    }

    #[test]
    fn results_beyond_i64_units_overflow() {
        let max = usd(i64::MAX, 999_999_999);
        let min = usd(i64::MIN, -999_999_999);
        assert_eq!(max.checked_add(usd(0, 1)), Err(MoneyError::Overflow));
        assert_eq!(min.checked_sub(usd(0, 1)), Err(MoneyError::Overflow));
        assert_eq!(max.checked_sub(min), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MAX / 2 + 1, 0).times(2), Err(MoneyError::Overflow));
        assert_eq!(max.times(u32::MAX), Err(MoneyError::Overflow));
        assert_eq!(Money::sum(currency("USD"), [max, usd(0, 1)]), Err(MoneyError::Overflow));
        assert_eq!(MoneyError::Overflow.field(), "units");
        assert_eq!(usd(i64::MAX / 2, 0).times(2).unwrap().units(), i64::MAX - 1);
    }

    #[test]
    fn a_sum_only_needs_its_total_to_fit() {
        let max = usd(i64::MAX, 0);
        assert_eq!(Money::sum(currency("USD"), [max, usd(1, 0), usd(-1, 0)]).unwrap(), max);
    }

    #[test]
    fn minor_unit_digits_follow_iso_4217() {
        assert_eq!(currency("JPY").minor_unit_digits(), 0);
        assert_eq!(currency("KWD").minor_unit_digits(), 3);
        assert_eq!(currency("USD").minor_unit_digits(), 2);
        assert_eq!(currency("CLF").minor_unit_digits(), 4);
        assert_eq!(currency("ZZZ").minor_unit_digits(), 2);
    }

    #[test]
    fn minor_units_convert_exactly_in_each_currency() {
        assert_eq!(Money::from_minor_units(currency("USD"), 1250), usd(12, 500_000_000));
        assert_eq!(Money::from_minor_units(currency("JPY"), 500), Money::new("JPY", 500, 0).unwrap());
        assert_eq!(Money::from_minor_units(currency("KWD"), 1234), Money::new("KWD", 1, 234_000_000).unwrap());
        assert_eq!(Money::from_minor_units(currency("USD"), -320), usd(-3, -200_000_000));
        assert_eq!(usd(12, 500_000_000).to_minor_units(), Ok(1250));
        assert_eq!(Money::new("KWD", 1, 234_000_000).unwrap().to_minor_units(), Ok(1234));
        assert_eq!(Money::new("JPY", 500, 0).unwrap().to_minor_units(), Ok(500));
    }

    #[test]
    fn the_whole_range_of_minor_units_fits() {
        for minor in [i64::MIN, i64::MAX] {
            let money = Money::from_minor_units(currency("USD"), minor);
            assert_eq!(money.to_minor_units(), Ok(minor));
        }
    }

    #[test]
    fn rounding_to_minor_units_goes_half_to_even() {
        assert_eq!(usd(0, 125_000_000).to_minor_units(), Ok(12));
        assert_eq!(usd(0, 135_000_000).to_minor_units(), Ok(14));
        assert_eq!(Money::new("JPY", 0, 500_000_000).unwrap().to_minor_units(), Ok(0));
        assert_eq!(Money::new("JPY", 1, 500_000_000).unwrap().to_minor_units(), Ok(2));
        assert_eq!(Money::new("KWD", 1, 234_500_000).unwrap().to_minor_units(), Ok(1234));
        assert_eq!(Money::new("KWD", 1, 235_500_000).unwrap().to_minor_units(), Ok(1236));
    }

    #[test]
    fn rounding_negative_amounts_mirrors_positive_ones() {
        assert_eq!(usd(0, -125_000_000).to_minor_units(), Ok(-12));
        assert_eq!(usd(0, -135_000_000).to_minor_units(), Ok(-14));
        assert_eq!(usd(-1, -5_000_001).to_minor_units(), Ok(-101));
        assert_eq!(Money::new("JPY", 0, -500_000_000).unwrap().to_minor_units(), Ok(0));
    }

    #[test]
    fn amounts_off_the_halfway_point_round_to_the_nearest_minor_unit() {
        assert_eq!(usd(0, 125_000_001).to_minor_units(), Ok(13));
        assert_eq!(usd(0, 124_999_999).to_minor_units(), Ok(12));
        assert_eq!(usd(0, 1).to_minor_units(), Ok(0));
        assert_eq!(usd(0, 5_000_000).to_minor_units(), Ok(0));
        assert_eq!(usd(0, 15_000_000).to_minor_units(), Ok(2));
    }

    #[test]
    fn minor_units_beyond_i64_overflow() {
        assert_eq!(usd(i64::MAX, 0).to_minor_units(), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MIN, 0).to_minor_units(), Err(MoneyError::Overflow));
        assert_eq!(Money::new("JPY", i64::MAX, 0).unwrap().to_minor_units(), Ok(i64::MAX));
    }

    #[test]
    fn round_to_minor_units_keeps_the_currency_and_rounds_half_to_even() {
        assert_eq!(usd(0, 125_000_000).round_to_minor_units(), usd(0, 120_000_000));
        assert_eq!(usd(0, 135_000_000).round_to_minor_units(), usd(0, 140_000_000));
        assert_eq!(usd(0, -125_000_000).round_to_minor_units(), usd(0, -120_000_000));
        assert_eq!(usd(12, 500_000_000).round_to_minor_units(), usd(12, 500_000_000));
        assert_eq!(Money::new("JPY", 2, 500_000_000).unwrap().round_to_minor_units(), Money::new("JPY", 2, 0).unwrap());
    }

    #[test]
    fn rounding_at_the_edge_of_the_range_stays_in_range() {
        assert_eq!(usd(i64::MAX, 999_999_999).round_to_minor_units(), usd(i64::MAX, 990_000_000));
        assert_eq!(usd(i64::MIN, -999_999_999).round_to_minor_units(), usd(i64::MIN, -990_000_000));
        assert_eq!(usd(i64::MAX, 994_999_999).round_to_minor_units(), usd(i64::MAX, 990_000_000));
    }

    #[test]
    fn display_shows_the_minor_digits_and_more_only_when_needed() {
        assert_eq!(usd(12, 500_000_000).to_string(), "USD 12.50");
        assert_eq!(usd(0, 1).to_string(), "USD 0.000000001");
        assert_eq!(usd(0, -1).to_string(), "USD -0.000000001");
        assert_eq!(usd(-3, -200_000_000).to_string(), "USD -3.20");
        assert_eq!(usd(0, 125_000_000).to_string(), "USD 0.125");
        assert_eq!(Money::zero(currency("USD")).to_string(), "USD 0.00");
        assert_eq!(Money::new("JPY", 500, 0).unwrap().to_string(), "JPY 500");
        assert_eq!(Money::new("JPY", 0, 500_000_000).unwrap().to_string(), "JPY 0.5");
        assert_eq!(Money::new("KWD", 1, 0).unwrap().to_string(), "KWD 1.000");
        assert_eq!(usd(i64::MIN, -999_999_999).to_string(), "USD -9223372036854775808.999999999");
    }

    #[test]
    fn proto_money_round_trips_exactly() {
        for (units, nanos) in [(12, 500_000_000), (-1, -750_000_000), (0, -1), (0, 0), (i64::MAX, 999_999_999)] {
            let proto = ProtoMoney { currency_code: "USD".to_owned(), units, nanos };
            let money = Money::try_from(&proto).unwrap();
            assert_eq!(money, usd(units, nanos));
            assert_eq!(ProtoMoney::from(money), proto);
        }
    }

    #[test]
    fn invalid_proto_money_is_rejected() {
        let proto = |code: &str, units, nanos| ProtoMoney { currency_code: code.to_owned(), units, nanos };
        assert_eq!(Money::try_from(&proto("", 1, 0)).unwrap_err().field(), "currency_code");
        assert_eq!(Money::try_from(&proto("USD", 1, -1)), Err(MoneyError::SignMismatch));
        assert_eq!(Money::try_from(&proto("USD", 0, 1_000_000_000)), Err(MoneyError::NanosOutOfRange));
    }
}
