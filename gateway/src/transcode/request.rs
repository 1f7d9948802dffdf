//! Building the gRPC request message from an HTTP request: body, then path bindings, then query.
//!
//! Path bindings win over the body: `POST /v1/orders/o1:cancel {"id": "o2"}` cancels `o1`, as
//! grpc-gateway and Envoy do. The body is parsed first and the path written over it, so a path
//! variable nested in the body field (`{product.id}` with `body: "product"`) merges into it.

use prost_reflect::{DynamicMessage, MessageDescriptor};

use super::error::TranscodeError;
use super::fields::{self, Write};
use super::query;
use super::routes::{BodyMapping, RouteMatch};

/// The request message for a matched route. A blank body counts as none (`{}` for `body: "*"`);
/// a body where the rule maps none is refused, as are query parameters naming fields the path or
/// body already sets. Every failure caused by the input is a client error ([`TranscodeError::to_status`]
/// gives INVALID_ARGUMENT).
pub fn build_request(m: &RouteMatch<'_>, query: Option<&str>, body: &[u8]) -> Result<DynamicMessage, TranscodeError> {
    let route = m.route;
    let input = route.method.input();
    let mut message = parse_body(&input, &route.body, body)?;

    let mut bound = Vec::with_capacity(m.bindings.len());
    for (path, value) in &m.bindings {
        let field = path.join(".");
        let resolved = fields::resolve(&input, path, false).map_err(|_| TranscodeError::InvalidPathParam {
            field: field.clone(),
            reason: "no such field".to_owned(),
        })?;
        fields::set_from_text(&mut message, &resolved, value, Write::Overwrite)
            .map_err(|reason| TranscodeError::InvalidPathParam { field, reason })?;
        bound.push(resolved);
    }

    if let Some(q) = query {
        query::apply(&mut message, q, &route.body, &bound)?;
    }
    Ok(message)
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

fn parse_body(input: &MessageDescriptor, mapping: &BodyMapping, body: &[u8]) -> Result<DynamicMessage, TranscodeError> {
    match mapping {
        BodyMapping::None if is_blank(body) => Ok(DynamicMessage::new(input.clone())),
        BodyMapping::None => Err(TranscodeError::BodyNotAllowed),
        BodyMapping::Whole if is_blank(body) => Ok(DynamicMessage::new(input.clone())),
        BodyMapping::Whole => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let message = deserialize_tracked(input, &mut de)?;
            de.end().map_err(|e| body_error(None, &e))?;
            Ok(message)
        }
        BodyMapping::Field(_) if is_blank(body) => Ok(DynamicMessage::new(input.clone())),
        BodyMapping::Field(name) => {
            // Parse the body as the value of that one field by wrapping it, which reuses the JSON
            // mapping for whatever the field's type is (message, repeated, well-known type...).
            let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| body_error(Some(name), &e))?;
            let mut wrapper = serde_json::Map::new();
            wrapper.insert(name.clone(), value);
            deserialize_tracked(input, serde_json::Value::Object(wrapper))
        }
    }
}

/// Deserializes while tracking where in the document an error happened, so the client learns
/// which field was wrong (`product.price.units`), not only a line and column.
fn deserialize_tracked<'de, D>(input: &MessageDescriptor, de: D) -> Result<DynamicMessage, TranscodeError>
where
    D: serde::Deserializer<'de, Error = serde_json::Error>,
{
    let mut track = serde_path_to_error::Track::new();
    DynamicMessage::deserialize(input.clone(), serde_path_to_error::Deserializer::new(de, &mut track)).map_err(|e| {
        let path = track.path().to_string();
        if path == "." {
            body_error(None, &e)
        } else {
            TranscodeError::InvalidBody { reason: format!("{path}: {e}"), field: Some(path) }
        }
    })
}

fn body_error(field: Option<&str>, e: &serde_json::Error) -> TranscodeError {
    TranscodeError::InvalidBody { field: field.map(str::to_owned), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost_reflect::ReflectMessage as _;
    use serde_json::json;

    use super::*;
    use crate::transcode::json::to_value;
    use crate::transcode::routes::Match;
    use crate::transcode::testing::{kitchen_route, matched, table};

    fn build(
        method: http::Method,
        path: &str,
        query: Option<&str>,
        body: &str,
    ) -> Result<serde_json::Value, TranscodeError> {
        let Match::Found(m) = table().find(&method, path) else { panic!("{method} {path} has no route") };
        build_request(&m, query, body.as_bytes()).map(|msg| to_value(&msg).unwrap())
    }

    fn ok(method: http::Method, path: &str, query: Option<&str>, body: &str) -> serde_json::Value {
        build(method, path, query, body).unwrap_or_else(|e| panic!("{path}?{query:?} {body}: {e}"))
    }

    #[test]
    fn path_variables_set_their_fields() {
        assert_eq!(ok(http::Method::GET, "/v1/products/p%201", None, ""), json!({"id": "p 1"}));
        assert_eq!(ok(http::Method::DELETE, "/v1/cart/items/p1", None, ""), json!({"productId": "p1"}));
    }

    #[test]
    fn a_star_body_fills_the_message_and_the_path_wins_over_it() {
        assert_eq!(
            ok(http::Method::POST, "/v1/orders/o1:cancel", None, r#"{"reason": "changed my mind"}"#),
            json!({"id": "o1", "reason": "changed my mind"})
        );
        assert_eq!(
            ok(http::Method::POST, "/v1/orders/o1:cancel", None, r#"{"id": "o2", "reason": "r"}"#),
            json!({"id": "o1", "reason": "r"})
        );
        assert_eq!(ok(http::Method::POST, "/v1/orders/o1:cancel", None, ""), json!({"id": "o1"}));
        assert_eq!(
            ok(http::Method::POST, "/v1/products/p1:adjustStock", None, r#"{"delta": "-5"}"#),
            json!({"productId": "p1", "delta": "-5"})
        );
    }

    #[test]
    fn a_named_body_field_takes_the_body_and_the_rest_comes_from_path_and_query() {
        let body = r#"{"name": "Espresso", "categoryIds": ["coffee"], "price": {"currencyCode": "EUR", "units": 12}}"#;
        assert_eq!(
            ok(http::Method::PATCH, "/v1/products/p1", Some("update_mask=name,categoryIds"), body),
            json!({
                "id": "p1",
                "product": {"name": "Espresso", "categoryIds": ["coffee"], "price": {"currencyCode": "EUR", "units": "12"}},
                "updateMask": "name,categoryIds",
            })
        );
        assert_eq!(
            ok(http::Method::PATCH, "/v1/products/p1", Some("updateMask=image_url"), "{}"),
            json!({"id": "p1", "product": {}, "updateMask": "imageUrl"})
        );
    }

    #[test]
    fn bodies_accept_original_field_names() {
        let body =
            r#"{"recipient_name": "Ada", "address_lines": ["1 Main St"], "city": "Berlin", "country_code": "DE"}"#;
        assert_eq!(
            ok(http::Method::POST, "/v1/users/me/addresses", None, body),
            json!({"address": {"recipientName": "Ada", "addressLines": ["1 Main St"], "city": "Berlin", "countryCode": "DE"}})
        );
    }

    #[test]
    fn bad_bodies_are_client_errors_with_clear_messages() {
        let cases = [
            (http::Method::POST, "/v1/sessions", r#"{"email": "a@b.c", "colour": "red"}"#, "colour"),
            (http::Method::POST, "/v1/sessions", r#"{"email": "#, "EOF"),
            (http::Method::POST, "/v1/sessions", r#"{"email": "a"} trailing"#, "trailing"),
            (http::Method::POST, "/v1/sessions", "[1]", "invalid type"),
            (http::Method::POST, "/v1/products:batchGet", r#"{"ids": "a"}"#, "invalid type"),
            (http::Method::POST, "/v1/users/me/addresses", r#"{"bogus": 1}"#, "bogus"),
            (http::Method::POST, "/v1/cart/items", r#"{"quantity": 1.5}"#, "quantity"),
        ];
        for (method, path, body, needle) in cases {
            let err = build(method, path, None, body).unwrap_err();
            assert!(matches!(err, TranscodeError::InvalidBody { .. }), "{body}: {err:?}");
            assert!(err.to_string().contains(needle), "{body}: {err} lacks {needle}");
            assert_eq!(err.to_status().code(), tonic::Code::InvalidArgument);
        }
        let err = build(http::Method::POST, "/v1/users/me/addresses", None, r#"{"bogus": 1}"#).unwrap_err();
        assert_eq!(err.field(), Some("address"));
    }

    #[test]
    fn a_body_where_none_is_mapped_is_rejected_but_blank_is_fine() {
        assert!(matches!(build(http::Method::GET, "/v1/products/p1", None, "{}"), Err(TranscodeError::BodyNotAllowed)));
        assert_eq!(ok(http::Method::GET, "/v1/products/p1", None, " \n"), json!({"id": "p1"}));
    }

    #[test]
    fn the_message_has_the_methods_input_type() {
        let Match::Found(m) = table().find(&http::Method::GET, "/v1/users/me") else { panic!() };
        let msg = build_request(&m, None, b"").unwrap();
        assert_eq!(msg.descriptor().full_name(), "mercato.identity.v1.GetMeRequest");
    }

    /// Values aimed at the edges of the well-known types and numeric parsing.
    fn edgy_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,16}",
            "-?[0-9]{1,25}(\\.[0-9]{0,12})?(e-?[0-9]{1,4})?s?",
            "[0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})",
            "[a-zA-Z_.,]{0,20}",
            Just("NaN".to_owned()),
            Just("-Infinity".to_owned()),
            Just("315576000001s".to_owned()),
            Just("-315576000000.999999999s".to_owned()),
        ]
    }

    const KITCHEN_FIELDS: &[&str] = &[
        "id",
        "filter",
        "filter.status",
        "filter.tags",
        "filter.inner",
        "filter.inner.n",
        "numbers",
        "blob",
        "ratio",
        "small",
        "flag",
        "big",
        "at",
        "wait",
        "mask",
        "maybe",
        "maybeFlag",
        "maybe_flag",
        "left",
        "right",
        "labels",
        "inners",
        "inners.n",
        "status",
        "statuses",
    ];

    /// Query strings made of real parameter names and hostile values and separators.
    fn query_string() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("id".to_owned()),
            Just("page_size".to_owned()),
            Just("pageSize".to_owned()),
            Just("status".to_owned()),
            Just("update_mask".to_owned()),
            Just("product.name".to_owned()),
            Just("query".to_owned()),
            "[a-zA-Z_.%+]{0,12}",
        ];
        let value = prop_oneof!["[0-9-]{0,20}", "ORDER_STATUS_[A-Z]{0,8}", "\\PC{0,16}", "[%0-9A-Fa-f+,.]{0,12}"];
        prop::collection::vec((name, value), 0..6)
            .prop_map(|pairs| pairs.into_iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&"))
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let key = prop_oneof![
            Just("id".to_owned()),
            Just("delta".to_owned()),
            Just("ids".to_owned()),
            Just("product".to_owned()),
            Just("price".to_owned()),
            Just("units".to_owned()),
            Just("createTime".to_owned()),
            Just("shipping_address".to_owned()),
            Just("quantity".to_owned()),
            "[a-zA-Z_]{0,8}",
        ];
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(serde_json::Value::String),
            Just(json!("1970-01-01T00:00:00Z")),
            Just(json!("9999-12-31T23:59:60.999999999+14:00")),
            Just(json!("-9223372036854775809")),
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn edge_values_in_every_kind_of_field_never_panic(
            params in prop::collection::vec((prop::sample::select(KITCHEN_FIELDS), edgy_text()), 0..6),
            body in prop::collection::vec((prop::sample::select(KITCHEN_FIELDS), json_value(), edgy_text()), 0..6),
        ) {
            let query: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
                .collect();
            let get = kitchen_route(http::Method::GET, "/v1/kitchens/{id}", BodyMapping::None);
            let _ = build_request(&matched(&get, "/v1/kitchens/k"), Some(&query.join("&")), b"");

            let mut object = serde_json::Map::new();
            for (i, (k, v, text)) in body.into_iter().enumerate() {
                object.insert(k.to_owned(), if i % 2 == 0 { v } else { json!(text) });
            }
            let bytes = serde_json::to_vec(&object).unwrap();
            let post = kitchen_route(http::Method::POST, "/v1/kitchens/{filter.inner.n}", BodyMapping::Whole);
            if let Ok(msg) = build_request(&matched(&post, "/v1/kitchens/5"), None, &bytes) {
                // Whatever was accepted must also render back out.
                let _ = crate::transcode::json::response_json(&post, &msg);
            }
            let field = kitchen_route(http::Method::POST, "/v1/kitchens", BodyMapping::Field("filter".to_owned()));
            let _ = build_request(&matched(&field, "/v1/kitchens"), Some(&query.join("&")), &bytes);
        }

        #[test]
        fn arbitrary_bytes_and_queries_never_panic(index in 0usize..64, body in prop::collection::vec(any::<u8>(), 0..64), query in "\\PC{0,48}") {
            let routes = table().routes();
            let route = &routes[index % routes.len()];
            let m = RouteMatch { route, bindings: vec![] };
            let _ = build_request(&m, Some(&query), &body);
        }

        #[test]
        fn arbitrary_json_bodies_and_queries_never_panic(index in 0usize..64, body in json_value(), query in query_string(), id in "\\PC{0,8}") {
            let routes = table().routes();
            let route = &routes[index % routes.len()];
            let bindings = route.template.variables().into_iter().map(|v| (v, id.clone())).collect();
            let m = RouteMatch { route, bindings };
            let bytes = serde_json::to_vec(&body).unwrap();
            if let Ok(msg) = build_request(&m, Some(&query), &bytes) {
                prop_assert_eq!(msg.descriptor(), route.method.input());
            }
        }
    }
}
