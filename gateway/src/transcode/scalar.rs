//! One field value from one piece of text (a path segment or a query parameter), following the
//! proto3 JSON mapping's string forms: enums by name or number, 64-bit integers in decimal,
//! bytes in base64, and the well-known types that JSON writes as strings.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

pub(crate) fn parse(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    if field.is_map() {
        return Err("map fields cannot be set from a string".to_owned());
    }
    parse_kind(&field.kind(), text)
}

fn parse_kind(kind: &Kind, text: &str) -> Result<Value, String> {
    let int_err = |e: std::num::ParseIntError| format!("`{text}` is not a valid integer ({e})");
    Ok(match kind {
        Kind::String => Value::String(text.to_owned()),
        Kind::Bool => Value::Bool(parse_bool(text)?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(text.parse().map_err(int_err)?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(text.parse().map_err(int_err)?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(text.parse().map_err(int_err)?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(text.parse().map_err(int_err)?),
        Kind::Double => Value::F64(parse_float(text)?),
        Kind::Float => {
            let v = parse_float(text)?;
            let narrowed = v as f32;
            if v.is_finite() && !narrowed.is_finite() {
                return Err(format!("`{text}` is out of range for a float"));
            }
            Value::F32(narrowed)
        }
        Kind::Bytes => Value::Bytes(parse_bytes(text)?.into()),
        Kind::Enum(e) => {
            let number = match e.get_value_by_name(text) {
                Some(v) => v.number(),
                None => text.parse::<i32>().map_err(|_| {
                    let names: Vec<_> = e.values().map(|v| v.name().to_owned()).collect();
                    format!("`{text}` is not one of {}", names.join(", "))
                })?,
            };
            Value::EnumNumber(number)
        }
        Kind::Message(m) => Value::Message(parse_well_known(m, text)?),
    })
}

fn parse_bool(text: &str) -> Result<bool, String> {
    if text.eq_ignore_ascii_case("true") || text == "1" {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") || text == "0" {
        Ok(false)
    } else {
        Err(format!("`{text}` is not true or false"))
    }
}

fn parse_float(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        // Rust also accepts "inf" and "nan" spellings; JSON's are the ones above.
        _ if text.chars().any(|c| c.is_ascii_alphabetic() && !matches!(c, 'e' | 'E')) => {
            Err(format!("`{text}` is not a number"))
        }
        _ => text.parse().map_err(|_| format!("`{text}` is not a number")),
    }
}

fn parse_bytes(text: &str) -> Result<Vec<u8>, String> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or_else(|| format!("`{text}` is not base64"))
}

/// Well-known types whose JSON form is a string. Other messages have fields that must be set one
/// by one with dotted names.
fn parse_well_known(desc: &MessageDescriptor, text: &str) -> Result<DynamicMessage, String> {
    match desc.full_name() {
        "google.protobuf.Timestamp" | "google.protobuf.Duration" => {
            DynamicMessage::deserialize(desc.clone(), serde_json::Value::String(text.to_owned()))
                .map_err(|e| format!("`{text}` is not a valid {}: {e}", desc.name()))
        }
        "google.protobuf.FieldMask" => field_mask(desc, text),
        "google.protobuf.DoubleValue"
        | "google.protobuf.FloatValue"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.Int32Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => {
            let inner = desc.get_field_by_name("value").ok_or("wrapper without a value field")?;
            let mut message = DynamicMessage::new(desc.clone());
            message.try_set_field(&inner, parse_kind(&inner.kind(), text)?).map_err(|e| e.to_string())?;
            Ok(message)
        }
        name => Err(format!("{name} is a message: set its fields with dotted names")),
    }
}

/// Accepts both the JSON form (`updateTime,name`) and the proto form (`update_time,name`).
fn field_mask(desc: &MessageDescriptor, text: &str) -> Result<DynamicMessage, String> {
    let paths_field = desc.get_field_by_name("paths").ok_or("FieldMask without paths")?;
    let paths: Vec<Value> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Value::String(p.split('.').map(snake_case).collect::<Vec<_>>().join(".")))
        .collect();
    let mut message = DynamicMessage::new(desc.clone());
    message.try_set_field(&paths_field, Value::List(paths)).map_err(|e| e.to_string())?;
    Ok(message)
}

fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_camel_case_mask_paths() {
        assert_eq!(snake_case("updateTime"), "update_time");
        assert_eq!(snake_case("update_time"), "update_time");
        assert_eq!(snake_case("categoryIds"), "category_ids");
    }

    #[test]
    fn floats_accept_json_spellings_only() {
        assert_eq!(parse_float("1.5").unwrap(), 1.5);
        assert_eq!(parse_float("-2e3").unwrap(), -2000.0);
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("-Infinity").unwrap(), f64::NEG_INFINITY);
        assert!(parse_float("inf").is_err());
        assert!(parse_float("").is_err());
        assert!(parse_float("0x10").is_err());
    }

    #[test]
    fn bools_and_bytes() {
        assert!(parse_bool("TRUE").unwrap());
        assert!(!parse_bool("0").unwrap());
        assert!(parse_bool("yes").is_err());
        assert_eq!(parse_bytes("aGk=").unwrap(), b"hi");
        assert_eq!(parse_bytes("aGk").unwrap(), b"hi");
        assert_eq!(parse_bytes("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(parse_bytes("!").is_err());
    }
}
