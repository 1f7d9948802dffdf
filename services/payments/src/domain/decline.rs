//! Why a charge failed, as payments records it and answers it: a fixed set, whatever the
//! provider says, so the saga, the customer's e-mail and the declines counter can rely on it.

/// A charge's failure code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineCode {
    CardDeclined,
    InsufficientFunds,
    InvalidPaymentMethod,
    /// The provider's code is one payments does not know, or the charge never completed.
    ProcessingError,
}

impl DeclineCode {
    pub const ALL: [Self; 4] =
        [Self::CardDeclined, Self::InsufficientFunds, Self::InvalidPaymentMethod, Self::ProcessingError];

    /// The provider's decline code mapped onto the set; anything unknown is a processing error.
    pub fn from_provider(code: &str) -> Self {
        Self::ALL.into_iter().find(|known| known.as_str() == code).unwrap_or(Self::ProcessingError)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardDeclined => "card_declined",
            Self::InsufficientFunds => "insufficient_funds",
            Self::InvalidPaymentMethod => "invalid_payment_method",
            Self::ProcessingError => "processing_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DeclineCode;

    #[test]
    fn known_codes_are_kept_and_the_rest_are_processing_errors() {
        for code in DeclineCode::ALL {
            assert_eq!(DeclineCode::from_provider(code.as_str()), code);
        }
        assert_eq!(DeclineCode::from_provider("fraudulent: call 555-0100"), DeclineCode::ProcessingError);
        assert_eq!(DeclineCode::from_provider(""), DeclineCode::ProcessingError);
    }
}
