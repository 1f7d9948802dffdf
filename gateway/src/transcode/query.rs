//! Query parameters into fields not already bound by the path or the body: `a=1&a=2` for
//! repeated fields, dotted names for nested messages, names in proto or lowerCamelCase form.

use std::collections::HashSet;

use percent_encoding::percent_decode;
use prost_reflect::{DynamicMessage, FieldDescriptor};

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
        let name = decode(raw_key).map_err(|reason| TranscodeError::InvalidQueryParam {
            name: raw_key.to_owned(),
            reason,
        })?;
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
    let not_allowed = |reason: &str| TranscodeError::QueryParamNotAllowed { name: name.to_owned(), reason: reason.to_owned() };
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
