//! Responses as canonical proto3 JSON, honouring a route's `response_body`.

use prost_reflect::{DynamicMessage, Kind, ReflectMessage as _, SerializeOptions};

use super::error::TranscodeError;
use super::routes::Route;

/// The proto3 JSON mapping's defaults: lowerCamelCase names, 64-bit integers as strings, enums
/// by name, default-valued fields left out.
fn options() -> SerializeOptions {
    SerializeOptions::new()
}

/// The response body: the whole message, or just the field named by the rule's `response_body`.
pub fn response_json(route: &Route, message: &DynamicMessage) -> Result<Vec<u8>, TranscodeError> {
    let encoding = |e: serde_json::Error| TranscodeError::ResponseEncoding(e.to_string());
    match &route.response_body {
        // The common case goes straight to bytes: no intermediate `serde_json::Value` tree.
        None => {
            let mut out = Vec::with_capacity(TYPICAL_RESPONSE_BYTES);
            message.serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options()).map_err(encoding)?;
            Ok(out)
        }
        Some(name) => serde_json::to_vec(&field_json(message, name)?).map_err(encoding),
    }
}

/// Enough for a product or an order without growing the buffer.
const TYPICAL_RESPONSE_BYTES: usize = 1024;

pub(crate) fn to_value(message: &DynamicMessage) -> Result<serde_json::Value, TranscodeError> {
    message
        .serialize_with_options(serde_json::value::Serializer, &options())
        .map_err(|e| TranscodeError::ResponseEncoding(e.to_string()))
}

/// The JSON of one top-level field. Unlike inside a message, the field cannot simply be left out
/// when it holds its default, so defaults are rendered: `{}`, `[]`, `0`, `""`...
fn field_json(message: &DynamicMessage, name: &str) -> Result<serde_json::Value, TranscodeError> {
    let desc = message.descriptor();
    let field = desc
        .get_field_by_name(name)
        .ok_or_else(|| TranscodeError::ResponseEncoding(format!("{} has no field `{name}`", desc.full_name())))?;
    if let (Kind::Message(_), false, false) = (field.kind(), field.is_list(), field.is_map())
        && let Some(inner) = message.get_field(&field).as_message()
    {
        return to_value(inner);
    }
    if let Some(v) = to_value(message)?.get(field.json_name()) {
        return Ok(v.clone());
    }
    // The field holds its default and was skipped: render an empty message with defaults kept,
    // which has nothing nested that could be wrongly expanded.
    let rendered = DynamicMessage::new(desc.clone())
        .serialize_with_options(serde_json::value::Serializer, &options().skip_default_fields(false))
        .map_err(|e| TranscodeError::ResponseEncoding(e.to_string()))?;
    Ok(rendered.get(field.json_name()).cloned().unwrap_or(serde_json::Value::Null))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost_reflect::{DynamicMessage, Value};
    use serde_json::json;

    use super::*;
    use crate::transcode::routes::Match;
    use crate::transcode::testing::table;

    fn route(method: http::Method, path: &str) -> &'static Route {
        match table().find(&method, path) {
            Match::Found(m) => m.route,
            other => panic!("{other:?}"),
        }
    }

    fn render(route: &Route, message: &DynamicMessage) -> serde_json::Value {
        serde_json::from_slice(&response_json(route, message).unwrap()).unwrap()
    }

    fn from_json(route: &Route, value: serde_json::Value) -> DynamicMessage {
        DynamicMessage::deserialize(route.method.output(), value).unwrap()
    }

    #[test]
    fn canonical_json_int64_as_strings_and_defaults_omitted() {
        let r = route(http::Method::GET, "/v1/products/p1");
        let mut message = from_json(
            r,
            json!({"product": {"id": "p1", "name": "Beans", "description": "", "stock": {"on_hand": 5, "reserved": 0},
                   "price": {"currency_code": "EUR", "units": 12, "nanos": 0}, "create_time": "2024-01-02T03:04:05Z"}}),
        );
        assert_eq!(
            render(r, &message),
            json!({"product": {"id": "p1", "name": "Beans", "stock": {"onHand": "5"},
                   "price": {"currencyCode": "EUR", "units": "12"}, "createTime": "2024-01-02T03:04:05Z"}})
        );
        message.clear_field_by_name("product");
        assert_eq!(render(r, &message), json!({}));
    }

    #[test]
    fn enums_render_by_name() {
        let r = route(http::Method::GET, "/v1/orders/o1");
        let message = from_json(r, json!({"order": {"id": "o1", "status": 3, "cancellation_reason": 0}}));
        assert_eq!(render(r, &message), json!({"order": {"id": "o1", "status": "ORDER_STATUS_PAID"}}));
    }

    #[test]
    fn response_body_renders_just_that_field_even_when_default() {
        let mut r = route(http::Method::GET, "/v1/products/p1").clone();
        r.response_body = Some("product".to_owned());
        let message = from_json(&r, json!({"product": {"id": "p1"}}));
        assert_eq!(render(&r, &message), json!({"id": "p1"}));
        assert_eq!(render(&r, &DynamicMessage::new(r.method.output())), json!({}));

        let mut list = route(http::Method::GET, "/v1/products").clone();
        list.response_body = Some("products".to_owned());
        let message = from_json(&list, json!({"products": [{"id": "a", "stock": {"reserved": 0}}]}));
        assert_eq!(render(&list, &message), json!([{"id": "a", "stock": {}}]));
        assert_eq!(render(&list, &DynamicMessage::new(list.method.output())), json!([]));

        list.response_body = Some("next_page_token".to_owned());
        assert_eq!(render(&list, &DynamicMessage::new(list.method.output())), json!(""));
        let mut message = DynamicMessage::new(list.method.output());
        message.set_field_by_name("next_page_token", Value::String("t".into()));
        assert_eq!(render(&list, &message), json!("t"));
    }

    proptest! {
        /// Upstream responses are trusted less than they look: whatever decodes must render or
        /// fail cleanly (timestamps out of range, invalid UTF-8 is already refused by decoding).
        #[test]
        fn any_decodable_response_renders_without_panicking(index in 0usize..64, bytes in prop::collection::vec(any::<u8>(), 0..96)) {
            let routes = table().routes();
            let mut r = routes[index % routes.len()].clone();
            if let Ok(message) = DynamicMessage::decode(r.method.output(), bytes.as_slice()) {
                let _ = response_json(&r, &message);
                for field in r.method.output().fields() {
                    r.response_body = Some(field.name().to_owned());
                    let _ = response_json(&r, &message);
                }
            }
        }
    }
}
