//! Responses as canonical proto3 JSON, honouring a route's `response_body`.

use prost_reflect::{DynamicMessage, Kind, SerializeOptions};

use super::error::TranscodeError;
use super::routes::Route;

/// The proto3 JSON mapping's defaults: lowerCamelCase names, 64-bit integers as strings, enums
/// by name, default-valued fields left out.
fn options() -> SerializeOptions {
    SerializeOptions::new()
}

pub fn response_json(route: &Route, message: &DynamicMessage) -> Result<Vec<u8>, TranscodeError> {
    let value = match &route.response_body {
        None => to_value(message)?,
        Some(name) => field_json(message, name)?,
    };
    serde_json::to_vec(&value).map_err(|e| TranscodeError::ResponseEncoding(e.to_string()))
}

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
