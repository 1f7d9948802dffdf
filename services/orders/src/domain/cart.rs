//! A cart's rules, without I/O: quantities of 1–99 per product, at most 50 products. Adding a
//! product already in the cart adds to its quantity; the sum must stay within the bound too.

use std::fmt;

pub const MAX_QUANTITY: u32 = 99;
pub const MAX_LINES: usize = 50;

/// Units of one product: 1–99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(u32);

impl Quantity {
    pub fn parse(raw: i32) -> Result<Self, QuantityError> {
        match u32::try_from(raw) {
            Ok(n @ 1..=MAX_QUANTITY) => Ok(Self(n)),
            _ => Err(QuantityError(raw.into())),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A quantity out of bounds (what it would have been).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be from 1 to {MAX_QUANTITY}, not {0}")]
pub struct QuantityError(pub i64);

/// Why an addition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("{product_id} would have {would_be} units in the cart; at most {MAX_QUANTITY}")]
    TooMany { product_id: String, would_be: u32 },
    #[error("the cart holds {MAX_LINES} products already")]
    Full,
}

/// The products of a cart and their quantities, in the order they were first added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines(Vec<(String, Quantity)>);

impl Lines {
    /// Lines as stored (already validated when they were added).
    pub fn from_stored(lines: impl IntoIterator<Item = (String, u32)>) -> Self {
        Self(lines.into_iter().map(|(id, n)| (id, Quantity(n.clamp(1, MAX_QUANTITY)))).collect())
    }

    /// Adds `quantity` of `product_id`; returns the product's new quantity.
    pub fn add(&mut self, product_id: &str, quantity: Quantity) -> Result<Quantity, CartError> {
        if let Some((_, held)) = self.0.iter_mut().find(|(id, _)| id == product_id) {
            let would_be = held.0 + quantity.0;
            if would_be > MAX_QUANTITY {
                return Err(CartError::TooMany { product_id: product_id.to_string(), would_be });
            }
            held.0 = would_be;
            return Ok(*held);
        }
        if self.0.len() >= MAX_LINES {
            return Err(CartError::Full);
        }
        self.0.push((product_id.to_string(), quantity));
        Ok(quantity)
    }

    /// Removes every unit of `product_id`; whether it was there.
    pub fn remove(&mut self, product_id: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|(id, _)| id != product_id);
        self.0.len() != before
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Quantity)> {
        self.0.iter().map(|(id, n)| (id.as_str(), *n))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i32) -> Quantity {
        Quantity::parse(n).unwrap()
    }

    #[test]
    fn quantities_are_one_to_ninety_nine() {
        assert_eq!(q(1).get(), 1);
        assert_eq!(q(99).get(), 99);
        for bad in [0, -1, 100, i32::MAX, i32::MIN] {
            assert_eq!(Quantity::parse(bad), Err(QuantityError(bad.into())));
        }
    }

    #[test]
    fn adding_again_adds_up_within_the_bound() {
        let mut lines = Lines::default();
        assert_eq!(lines.add("a", q(60)), Ok(q(60)));
        assert_eq!(lines.add("a", q(39)), Ok(q(99)));
        assert_eq!(lines.add("a", q(1)), Err(CartError::TooMany { product_id: "a".into(), would_be: 100 }));
        assert_eq!(lines.iter().collect::<Vec<_>>(), vec![("a", q(99))], "a refused addition changes nothing");
    }

    #[test]
    fn at_most_fifty_products_but_a_full_cart_still_takes_more_of_one_it_holds() {
        let mut lines = Lines::default();
        for i in 0..MAX_LINES {
            lines.add(&format!("p{i}"), q(1)).unwrap();
        }
        assert_eq!(lines.add("one-too-many", q(1)), Err(CartError::Full));
        assert_eq!(lines.add("p7", q(2)), Ok(q(3)));
        assert_eq!(lines.len(), MAX_LINES);
    }

    #[test]
    fn removing_takes_every_unit_and_an_absent_product_is_no_error() {
        let mut lines = Lines::default();
        lines.add("a", q(5)).unwrap();
        lines.add("b", q(1)).unwrap();
        assert!(lines.remove("a"));
        assert!(!lines.remove("a"));
        assert_eq!(lines.iter().collect::<Vec<_>>(), vec![("b", q(1))]);
        assert!(!lines.is_empty());
    }

    #[test]
    fn stored_lines_keep_their_order() {
        let lines = Lines::from_stored([("z".to_string(), 2), ("a".to_string(), 1)]);
        assert_eq!(lines.iter().map(|(id, _)| id).collect::<Vec<_>>(), vec!["z", "a"]);
    }
}
