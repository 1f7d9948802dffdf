//! A payment method's token. It is a capability to charge a card: orders keeps it only until
//! the charge command carries it to payments, and payments hands it to the provider and
//! nowhere else — never whole into a log, an error or an event.

use std::fmt;

use crate::domain::Invalid;

/// See the module docs. `Debug` and `Display` show only its kind and last two characters.
#[derive(Clone, PartialEq, Eq)]
pub struct CardToken(String);

impl CardToken {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.len() > 255 || raw.chars().any(|c| !c.is_ascii_graphic()) {
            return Err("is not a payment method token".into());
        }
        Ok(Self(raw.to_string()))
    }

    /// The token itself, for the provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `tok_…sa`: enough to tell tokens apart in a log, not enough to use one.
pub fn masked(raw: &str) -> String {
    let prefix = raw.split_once('_').map_or("", |(kind, _)| kind);
    let tail: String = raw.chars().rev().take(2).collect::<Vec<_>>().into_iter().rev().collect();
    if prefix.is_empty() { format!("…{tail}") } else { format!("{prefix}_…{tail}") }
}

impl fmt::Debug for CardToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardToken({})", masked(&self.0))
    }
}

impl fmt::Display for CardToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&masked(&self.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_token_never_prints_whole() {
        let token = CardToken::parse("tok_chargeDeclinedInsufficientFunds").unwrap();
        for shown in [format!("{token}"), format!("{token:?}")] {
            assert!(!shown.contains("chargeDeclined"), "{shown}");
            assert!(shown.contains("tok_…ds"), "{shown}");
        }
        assert_eq!(token.expose(), "tok_chargeDeclinedInsufficientFunds");
        assert_eq!(masked("ch_3NabcXY"), "ch_…XY");
        assert_eq!(masked("x"), "…x");
    }

    #[test]
    fn empty_or_odd_tokens_are_refused() {
        assert!(CardToken::parse("").is_err());
        assert!(CardToken::parse("tok visa").is_err());
        assert!(CardToken::parse(&"t".repeat(300)).is_err());
    }
}
