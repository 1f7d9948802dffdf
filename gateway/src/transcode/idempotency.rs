//! The standard `Idempotency-Key` request header (IETF draft-ietf-httpapi-idempotency-key):
//! for a method whose request has an `idempotency_key` string field, the header fills that
//! field when the body left it empty. A key in the body wins over the header.
//!
//! A request that carries a key is safe to send twice, so the gateway may retry it like a GET
//! (see [`carries_key`]).

use http::HeaderMap;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value};

use super::error::TranscodeError;

/// The header's name.
pub const HEADER: &str = "idempotency-key";
/// The request field it fills.
pub const FIELD: &str = "idempotency_key";

/// Whether requests of `input` take an idempotency key.
pub fn takes_key(input: &MessageDescriptor) -> bool {
    input.get_field_by_name(FIELD).is_some_and(|f| f.kind() == Kind::String && !f.is_list())
}

/// Copies the header into the field of `message` if it takes one and the body left it empty.
pub fn apply(message: &mut DynamicMessage, headers: &HeaderMap) -> Result<(), TranscodeError> {
    let Some(field) = message.descriptor().get_field_by_name(FIELD) else { return Ok(()) };
    if field.kind() != Kind::String || field.is_list() {
        return Ok(());
    }
    let Some(value) = headers.get(HEADER) else { return Ok(()) };
    let value = value.to_str().map_err(|_| TranscodeError::InvalidBody {
        reason: "the Idempotency-Key header must be visible ASCII".to_owned(),
        field: Some(FIELD.to_owned()),
    })?;
    // RFC 8941 allows the key as a quoted string ("abc"); both forms mean the same key.
    let key = value.trim().trim_matches('"');
    if message.get_field(&field).as_str().is_none_or(str::is_empty) {
        message.set_field(&field, Value::String(key.to_owned()));
    }
    Ok(())
}

/// Whether `message` carries a key (from the body or the header).
pub fn carries_key(message: &DynamicMessage) -> bool {
    message.get_field_by_name(FIELD).is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use http::HeaderValue;
    use prost_reflect::DescriptorPool;

    use super::*;

    fn place_order() -> DynamicMessage {
        let pool = DescriptorPool::decode(mercato::FILE_DESCRIPTOR_SET).unwrap();
        DynamicMessage::new(pool.get_message_by_name("mercato.orders.v1.PlaceOrderRequest").unwrap())
    }

    fn headers(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(key).unwrap());
        headers
    }

    #[test]
    fn the_header_fills_an_empty_field_and_the_body_wins_over_it() {
        let mut message = place_order();
        assert!(takes_key(&message.descriptor()) && !carries_key(&message));
        apply(&mut message, &headers("\"k-1\"")).unwrap();
        assert_eq!(message.get_field_by_name(FIELD).unwrap().as_str(), Some("k-1"));
        assert!(carries_key(&message));
        apply(&mut message, &headers("k-2")).unwrap();
        assert_eq!(message.get_field_by_name(FIELD).unwrap().as_str(), Some("k-1"));
    }

    #[test]
    fn requests_without_the_field_are_left_alone() {
        let pool = DescriptorPool::decode(mercato::FILE_DESCRIPTOR_SET).unwrap();
        let desc = pool.get_message_by_name("mercato.orders.v1.GetOrderRequest").unwrap();
        let mut message = DynamicMessage::new(desc.clone());
        apply(&mut message, &headers("k")).unwrap();
        assert!(!takes_key(&desc) && !carries_key(&message));
    }
}
