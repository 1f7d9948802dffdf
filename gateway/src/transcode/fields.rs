//! Addressing fields of a message by dotted path and setting them from text, shared by path
//! bindings and query parameters.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

use super::scalar;

/// Resolves `path` from `desc`. Intermediate fields must be singular messages. Names are the
/// proto field names; with `json_names`, lowerCamelCase JSON names are accepted too.
pub(crate) fn resolve<S: AsRef<str>>(
    desc: &MessageDescriptor,
    path: &[S],
    json_names: bool,
) -> Result<Vec<FieldDescriptor>, ResolveError> {
    let mut out = Vec::with_capacity(path.len());
    let mut current = desc.clone();
    for (i, name) in path.iter().enumerate() {
        let name = name.as_ref();
        let field = current
            .get_field_by_name(name)
            .or_else(|| if json_names { current.get_field_by_json_name(name) } else { None })
            .ok_or(ResolveError::Unknown)?;
        if i + 1 < path.len() {
            current = match field.kind() {
                Kind::Message(m) if !field.is_list() && !field.is_map() => m,
                _ => return Err(ResolveError::NotAMessage(out_names(&out, &field))),
            };
        }
        out.push(field);
    }
    if out.is_empty() {
        return Err(ResolveError::Unknown);
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResolveError {
    Unknown,
    /// The named prefix is not a singular message, so it has no fields to descend into.
    NotAMessage(String),
}

fn out_names(prefix: &[FieldDescriptor], last: &FieldDescriptor) -> String {
    prefix.iter().chain(std::iter::once(last)).map(|f| f.name()).collect::<Vec<_>>().join(".")
}

/// Proto names of a resolved path joined with dots, as error messages and field violations name it.
pub(crate) fn dotted(path: &[FieldDescriptor]) -> String {
    path.iter().map(|f| f.name()).collect::<Vec<_>>().join(".")
}

/// Where a value goes once the path is resolved.
pub(crate) enum Write {
    /// Replace whatever is there (path bindings win over the body).
    Overwrite,
    /// Append to a repeated field, or set a singular one; refuses to silently switch a oneof.
    Query,
}

/// Parses `text` for the leaf of `path` and stores it in `message`, creating intermediate
/// messages as needed.
pub(crate) fn set_from_text(
    message: &mut DynamicMessage,
    path: &[FieldDescriptor],
    text: &str,
    mode: Write,
) -> Result<(), String> {
    let Some((leaf, parents)) = path.split_last() else {
        return Err("empty field path".to_owned());
    };
    let mut current = message;
    for field in parents {
        if matches!(mode, Write::Query) {
            check_oneof(current, field)?;
        }
        current = current
            .get_field_mut(field)
            .as_message_mut()
            .ok_or_else(|| format!("`{}` is not a message", field.name()))?;
    }
    let value = scalar::parse(leaf, text)?;
    if leaf.is_list() {
        match current.get_field_mut(leaf) {
            Value::List(items) => items.push(value),
            _ => return Err(format!("`{}` is not a list", leaf.name())),
        }
        return Ok(());
    }
    if matches!(mode, Write::Query) {
        check_oneof(current, leaf)?;
    }
    current.try_set_field(leaf, value).map_err(|e| e.to_string())
}

fn check_oneof(message: &DynamicMessage, field: &FieldDescriptor) -> Result<(), String> {
    let Some(oneof) = field.containing_oneof() else {
        return Ok(());
    };
    match oneof.fields().find(|f| f.number() != field.number() && message.has_field(f)) {
        Some(other) => {
            Err(format!("`{}` is already set and belongs to the same oneof `{}`", other.name(), oneof.name()))
        }
        None => Ok(()),
    }
}
