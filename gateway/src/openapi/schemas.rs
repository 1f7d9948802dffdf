//! JSON Schemas of messages and enums, as the proto3 JSON mapping writes them; each is queued
//! once and built by [`Generator::finish`].

use std::collections::{BTreeMap, BTreeSet};

use mercato::google::api::FieldBehavior;
use prost_reflect::{
    DescriptorPool, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value as PValue,
};
use serde_json::{Map, Value, json};

use super::{SCHEMAS, comments::Comments};

/// A schema queued for `components.schemas`.
pub(super) enum Pending {
    Message(MessageDescriptor),
    Enum(EnumDescriptor),
}

pub(super) struct Generator<'a> {
    pub(super) pool: &'a DescriptorPool,
    pub(super) comments: Comments,
    pub(super) behavior: Option<ExtensionDescriptor>,
    pub(super) schemas: BTreeMap<String, Value>,
    pub(super) queued: BTreeSet<String>,
    pub(super) pending: Vec<Pending>,
}

impl<'a> Generator<'a> {
    pub(super) fn new(pool: &'a DescriptorPool) -> Self {
        Self {
            pool,
            comments: Comments::new(pool),
            behavior: pool.get_extension_by_name("google.api.field_behavior"),
            schemas: BTreeMap::new(),
            queued: BTreeSet::new(),
            pending: Vec::new(),
        }
    }

    /// Builds every queued schema (which may queue more) and returns them all.
    pub(super) fn finish(mut self) -> BTreeMap<String, Value> {
        while let Some(next) = self.pending.pop() {
            let (name, schema) = match next {
                Pending::Message(m) => (m.full_name().to_owned(), self.message_schema(&m)),
                Pending::Enum(e) => (e.full_name().to_owned(), self.enum_schema(&e)),
            };
            self.schemas.insert(name, schema);
        }
        self.schemas
    }

    pub(super) fn has_behavior(&self, field: &FieldDescriptor, wanted: FieldBehavior) -> bool {
        let Some(ext) = &self.behavior else { return false };
        let options = field.options();
        if !options.has_extension(ext) {
            return false;
        }
        match options.get_extension(ext).as_ref() {
            PValue::List(items) => items.iter().any(|v| v.as_enum_number() == Some(wanted as i32)),
            PValue::EnumNumber(n) => *n == wanted as i32,
            _ => false,
        }
    }

    /// A field's value as JSON writes it (map, list or single), with its comment and behaviour.
    pub(super) fn field_schema(&mut self, field: &FieldDescriptor) -> Value {
        let mut schema = if field.is_map() {
            let value = match field.kind() {
                Kind::Message(entry) => self.kind_schema(&entry.map_entry_value_field().kind()),
                other => self.kind_schema(&other),
            };
            json!({"type": "object", "additionalProperties": value})
        } else if field.is_list() {
            json!({"type": "array", "items": self.kind_schema(&field.kind())})
        } else {
            self.kind_schema(&field.kind())
        };
        self.annotate(&mut schema, field);
        schema
    }

    pub(super) fn annotate(&self, schema: &mut Value, field: &FieldDescriptor) {
        let Value::Object(map) = schema else { return };
        if let Some(text) = self.comments.field(field) {
            map.insert("description".into(), json!(text));
        }
        if self.has_behavior(field, FieldBehavior::OutputOnly) {
            map.insert("readOnly".into(), json!(true));
        }
        if self.has_behavior(field, FieldBehavior::InputOnly) {
            map.insert("writeOnly".into(), json!(true));
        }
        if field.field_descriptor_proto().options.as_ref().and_then(|o| o.deprecated) == Some(true) {
            map.insert("deprecated".into(), json!(true));
        }
    }

    pub(super) fn kind_schema(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Double | Kind::Float => {
                let format = if matches!(kind, Kind::Double) { "double" } else { "float" };
                json!({"oneOf": [
                    {"type": "number", "format": format},
                    {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
                ]})
            }
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({"type": "integer", "format": "int32"}),
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"type": "string", "format": "int64"}),
            Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte", "contentEncoding": "base64"}),
            Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => json!({"type": "null"}),
            Kind::Enum(e) => {
                if self.queued.insert(e.full_name().to_owned()) {
                    self.pending.push(Pending::Enum(e.clone()));
                }
                json!({"$ref": format!("{SCHEMAS}{}", e.full_name())})
            }
            Kind::Message(m) => self.message_ref(m),
        }
    }

    pub(super) fn message_ref_by_name(&mut self, name: &str) {
        if let Some(m) = self.pool.get_message_by_name(name) {
            self.message_ref(&m);
        }
    }

    /// A well-known type's JSON form inline, else a `$ref` to the message's schema (queued).
    pub(super) fn message_ref(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = self.well_known(message) {
            return schema;
        }
        if self.queued.insert(message.full_name().to_owned()) {
            self.pending.push(Pending::Message(message.clone()));
        }
        json!({"$ref": format!("{SCHEMAS}{}", message.full_name())})
    }

    pub(super) fn well_known(&mut self, message: &MessageDescriptor) -> Option<Value> {
        Some(match message.full_name() {
            "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
            "google.protobuf.Duration" => json!({
                "type": "string",
                "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
                "description": "Seconds with up to nine fractional digits and an `s` suffix, such as `\"1.5s\"`.",
            }),
            "google.protobuf.FieldMask" => json!({
                "type": "string",
                "description": "Comma-separated field paths, such as `\"name,price\"` (lowerCamelCase or snake_case).",
            }),
            "google.protobuf.Struct" => json!({"type": "object", "additionalProperties": true}),
            "google.protobuf.Value" => json!({"description": "Any JSON value."}),
            "google.protobuf.ListValue" => json!({"type": "array", "items": {}}),
            "google.protobuf.Empty" => json!({"type": "object", "properties": {}}),
            "google.protobuf.Any" => json!({
                "type": "object",
                "description": "A message of the type named by `@type`, its fields alongside (or in `value` \
                                for well-known types with a special JSON form).",
                "properties": {"@type": {"type": "string"}},
                "required": ["@type"],
                "additionalProperties": true,
            }),
            name if is_wrapper(name) => {
                let inner = message.get_field_by_name("value")?;
                self.kind_schema(&inner.kind())
            }
            _ => return None,
        })
    }

    pub(super) fn message_schema(&mut self, message: &MessageDescriptor) -> Value {
        let mut properties = Map::new();
        for field in message.fields() {
            let schema = self.field_schema(&field);
            properties.insert(field.json_name().to_owned(), schema);
        }
        let mut schema = json!({"type": "object", "properties": properties});
        let mut description: Vec<String> =
            self.comments.get(&message.parent_file(), message.path()).map(str::to_owned).into_iter().collect();
        for oneof in message.oneofs().filter(|o| !o.is_synthetic()) {
            let names: Vec<String> = oneof.fields().map(|f| format!("`{}`", f.json_name())).collect();
            description.push(format!("At most one of {} is set (oneof `{}`).", names.join(", "), oneof.name()));
        }
        if !description.is_empty() {
            schema["description"] = json!(description.join("\n\n"));
        }
        schema
    }

    pub(super) fn enum_schema(&self, e: &EnumDescriptor) -> Value {
        let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
        let mut lines: Vec<String> =
            self.comments.get(&e.parent_file(), e.path()).map(str::to_owned).into_iter().collect();
        let values: Vec<String> = e
            .values()
            .map(|v| match self.comments.get(&v.parent_file(), v.path()) {
                Some(text) => format!("- `{}`: {}", v.name(), text.split_whitespace().collect::<Vec<_>>().join(" ")),
                None => format!("- `{}`", v.name()),
            })
            .collect();
        lines.push(values.join("\n"));
        json!({"type": "string", "enum": names, "description": lines.join("\n\n")})
    }
}

pub(super) fn is_wkt(name: &str) -> bool {
    name.starts_with("google.protobuf.")
}

pub(super) fn is_wrapper(name: &str) -> bool {
    matches!(
        name,
        "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
    )
}

/// Well-known types a query parameter can carry as text (transcode::scalar parses these).
pub(super) fn is_text_wkt(name: &str) -> bool {
    matches!(name, "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask")
        || is_wrapper(name)
}
