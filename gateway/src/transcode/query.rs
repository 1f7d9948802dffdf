//! Query parameters into fields not already bound by the path or the body: `a=1&a=2` for
//! repeated fields, dotted names for nested messages, names in proto or lowerCamelCase form.

use std::collections::HashSet;

use percent_encoding::percent_decode;
use prost_reflect::{DynamicMessage, FieldDescriptor, ReflectMessage as _};

use super::error::TranscodeError;
use super::fields::{self, ResolveError, Write};
use super::routes::BodyMapping;

pub(crate) fn apply(
    message: &mut DynamicMessage,
    query: &str,
    body: &BodyMapping,
    path_bound: &[Vec<FieldDescriptor>],
) -> Result<(), TranscodeError> {
    let desc = message.descriptor();
    let mut seen_singular: HashSet<String> = HashSet::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name =
            decode(raw_key).map_err(|reason| TranscodeError::InvalidQueryParam { name: raw_key.to_owned(), reason })?;
        let invalid = |reason: String| TranscodeError::InvalidQueryParam { name: name.clone(), reason };
        let value = decode(raw_value).map_err(&invalid)?;

        let segments: Vec<&str> = name.split('.').collect();
        let path = fields::resolve(&desc, &segments, true).map_err(|e| match e {
            ResolveError::Unknown => TranscodeError::UnknownQueryParam { name: name.clone() },
            ResolveError::NotAMessage(p) => invalid(format!("`{p}` is not a message, so it has no fields")),
        })?;
        check_not_bound(&name, &path, body, path_bound)?;

        if let Some(leaf) = path.last()
            && !leaf.is_list()
            && !seen_singular.insert(fields::dotted(&path))
        {
            return Err(invalid("given more than once, but the field is not repeated".to_owned()));
        }
        fields::set_from_text(message, &path, &value, Write::Query).map_err(invalid)?;
    }
    Ok(())
}

/// `+` is a space in a query string (HTML forms), then percent-decoding; the result must be UTF-8.
fn decode(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_decode(spaced.as_bytes())
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "not valid UTF-8 once percent-decoded".to_owned())
}

fn check_not_bound(
    name: &str,
    path: &[FieldDescriptor],
    body: &BodyMapping,
    path_bound: &[Vec<FieldDescriptor>],
) -> Result<(), TranscodeError> {
    let not_allowed =
        |reason: &str| TranscodeError::QueryParamNotAllowed { name: name.to_owned(), reason: reason.to_owned() };
    match body {
        BodyMapping::Whole => return Err(not_allowed("this endpoint takes every field in the request body")),
        BodyMapping::Field(field) if path.first().is_some_and(|f| f.name() == field) => {
            return Err(not_allowed("that field is set by the request body"));
        }
        _ => {}
    }
    // Both paths start at the request message, so equal numbers along the shorter one mean one
    // is a prefix of the other: setting either would overwrite (part of) the other.
    let overlaps = |bound: &Vec<FieldDescriptor>| bound.iter().zip(path).all(|(a, b)| a.number() == b.number());
    if path_bound.iter().any(overlaps) {
        return Err(not_allowed("that field is set by the URL path"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transcode::json::to_value;
    use crate::transcode::request::build_request;
    use crate::transcode::routes::Match;
    use crate::transcode::testing::{kitchen_route, matched, table};

    fn real(path: &str, query: &str) -> Result<serde_json::Value, TranscodeError> {
        let Match::Found(m) = table().find(&http::Method::GET, path) else { panic!("GET {path} has no route") };
        build_request(&m, Some(query), b"").map(|msg| to_value(&msg).unwrap())
    }

    fn kitchen(query: &str) -> Result<serde_json::Value, TranscodeError> {
        let route = kitchen_route(http::Method::GET, "/v1/kitchens/{id}", BodyMapping::None);
        build_request(&matched(&route, "/v1/kitchens/k1"), Some(query), b"").map(|msg| to_value(&msg).unwrap())
    }

    #[test]
    fn scalars_and_enums_by_name_or_number() {
        assert_eq!(
            real("/v1/orders", "status=ORDER_STATUS_PAID&page_size=5&pageToken=abc").unwrap(),
            json!({"status": "ORDER_STATUS_PAID", "pageSize": 5, "pageToken": "abc"})
        );
        assert_eq!(real("/v1/orders", "status=3").unwrap(), json!({"status": "ORDER_STATUS_PAID"}));
        assert_eq!(
            real("/v1/products", "query=dark+roast%21&category=coffee").unwrap(),
            json!({"query": "dark roast!", "category": "coffee"})
        );
        assert_eq!(real("/v1/products", "").unwrap(), json!({}));
        assert_eq!(real("/v1/products", "&&").unwrap(), json!({}));
    }

    #[test]
    fn nested_repeated_and_well_known_types() {
        let q = "filter.status=ORDER_STATUS_PAID&filter.tags=a&filter.tags=b%2Cc&filter.inner.n=-7\
                 &numbers=1&numbers=2&blob=aGk%3D&ratio=1.5&small=2.5&flag=true&big=18446744073709551615\
                 &at=2024-01-02T03:04:05.5Z&wait=1.5s&mask=a.bC,d_e&maybe=7&maybeFlag=false&left=x\
                 &statuses=1&statuses=ORDER_STATUS_PAID";
        assert_eq!(
            kitchen(q).unwrap(),
            json!({
                "id": "k1",
                "filter": {"status": "ORDER_STATUS_PAID", "tags": ["a", "b,c"], "inner": {"n": "-7"}},
                "numbers": [1, 2],
                "blob": "aGk=",
                "ratio": 1.5,
                "small": 2.5,
                "flag": true,
                "big": "18446744073709551615",
                "at": "2024-01-02T03:04:05.500Z",
                "wait": "1.500s",
                "mask": "a.bC,dE",
                "maybe": 7,
                "maybeFlag": false,
                "left": "x",
                "statuses": ["ORDER_STATUS_PENDING", "ORDER_STATUS_PAID"],
            })
        );
    }

    #[test]
    fn unknown_parameters_are_rejected_by_name() {
        let err = real("/v1/products", "colour=red").unwrap_err();
        assert!(matches!(&err, TranscodeError::UnknownQueryParam { name } if name == "colour"), "{err:?}");
        assert_eq!(err.to_string(), "unknown query parameter `colour`");
        assert!(matches!(kitchen("filter.nope=1"), Err(TranscodeError::UnknownQueryParam { .. })));
        assert!(matches!(kitchen("id.x=1"), Err(TranscodeError::InvalidQueryParam { .. })));
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for q in [
            "status=ORDER_STATUS_BOGUS",
            "page_size=ten",
            "page_size=99999999999",
            "page_size=1&page_size=2",
            "page_token=%FF",
        ] {
            let err = real("/v1/orders", q).unwrap_err();
            assert!(matches!(err, TranscodeError::InvalidQueryParam { .. }), "{q}: {err:?}");
            let status = err.to_status();
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
        }
        for q in [
            "flag=maybe",
            "small=1e39",
            "blob=!!",
            "at=yesterday",
            "wait=5",
            "left=a&right=b",
            "labels=x",
            "inners.n=1",
            "filter=x",
            "ratio=inf",
        ] {
            assert!(matches!(kitchen(q), Err(TranscodeError::InvalidQueryParam { .. })), "{q}");
        }
    }

    #[test]
    fn fields_bound_by_path_or_body_cannot_be_set_by_query() {
        let not_allowed = |r: Result<serde_json::Value, TranscodeError>| {
            matches!(r, Err(TranscodeError::QueryParamNotAllowed { .. }))
        };
        assert!(not_allowed(real("/v1/products/p1", "id=p2")));
        assert!(not_allowed(kitchen("id=k2")));
        let Match::Found(m) = table().find(&http::Method::PATCH, "/v1/products/p1") else { panic!() };
        let r = build_request(&m, Some("product.name=x"), b"{}").map(|m| to_value(&m).unwrap());
        assert!(not_allowed(r));
        let Match::Found(m) = table().find(&http::Method::POST, "/v1/orders/o1:cancel") else { panic!() };
        let err = build_request(&m, Some("reason=x"), b"{}").unwrap_err();
        assert!(matches!(err, TranscodeError::QueryParamNotAllowed { .. }), "{err:?}");
    }
}
