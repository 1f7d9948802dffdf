//! The payment method's token: the kit's, shared with orders, which carries it to payments.

pub use mercato_kit::card_token::{CardToken, masked};
