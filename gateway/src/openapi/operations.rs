//! Operations: one per route, with its parameters, request body, responses and security.

use std::collections::HashSet;

use mercato::google::api::FieldBehavior;
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::{
    Access, SCHEMAS, STATUS, access,
    comments::summary,
    common_headers,
    schemas::{Generator, is_text_wkt, is_wkt},
    unique_id,
};
use crate::transcode::{BodyMapping, Route};

impl Generator<'_> {
    pub(super) fn operation(&mut self, route: &Route, id: String) -> Value {
        let method = &route.method;
        let service = method.parent_service();
        let comment = self.comments.get(&method.parent_file(), method.path()).map(str::to_owned);
        let mut op = Map::new();
        op.insert("operationId".into(), json!(id));
        op.insert("tags".into(), json!([service.name()]));
        op.insert(
            "summary".into(),
            json!(comment.as_deref().map_or_else(|| format!("{}.{}", service.name(), method.name()), summary)),
        );
        let access = access(method);
        let note = match access {
            Access::Public => "No token needed.",
            Access::User => "Needs a bearer token.",
            Access::Admin => "Needs a bearer token with the `admin` role.",
        };
        let description = match &comment {
            Some(text) => format!("{text}\n\n{note}"),
            None => note.to_owned(),
        };
        op.insert("description".into(), json!(description));
        if method.method_descriptor_proto().options.as_ref().and_then(|o| o.deprecated) == Some(true) {
            op.insert("deprecated".into(), json!(true));
        }

        let mut parameters = self.path_params(route);
        let input = method.input();
        let bound = route.template.variables();
        match &route.body {
            BodyMapping::Whole => {}
            BodyMapping::None => self.query_params(&input, &[], &bound, None, &mut parameters),
            BodyMapping::Field(name) => {
                self.query_params(&input, &[], &bound, Some(name), &mut parameters);
            }
        }
        if crate::transcode::idempotency::takes_key(&input) {
            parameters.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
        }
        parameters.push(json!({"$ref": "#/components/parameters/XRequestId"}));
        op.insert("parameters".into(), Value::Array(parameters));
        if let Some(body) = self.request_body(route) {
            op.insert("requestBody".into(), body);
        }
        op.insert("responses".into(), self.responses(route));
        let security = match access {
            Access::Public => json!([]),
            Access::User => json!([{"bearerAuth": []}]),
            // OpenAPI 3.1 lets a non-OAuth requirement name the roles it needs.
            Access::Admin => json!([{"bearerAuth": ["admin"]}]),
        };
        op.insert("security".into(), security);
        Value::Object(op)
    }

    /// GET /v1/home, the aggregation endpoint: not an RPC, so described by hand from the
    /// messages it is made of.
    pub(super) fn home(&mut self, ids: &mut HashSet<String>) -> Value {
        let mut reference = |name: &str| match self.pool.get_message_by_name(name) {
            Some(message) => self.message_ref(&message),
            None => json!({"type": "object"}),
        };
        let user = reference("mercato.identity.v1.User");
        let product = reference("mercato.catalog.v1.Product");
        let category = reference("mercato.catalog.v1.Category");
        let mut headers = common_headers();
        headers.remove("WWW-Authenticate");
        json!({
            "operationId": unique_id(ids, "Gateway_Home"),
            "tags": ["Gateway"],
            "summary": "The signed-in user's home page in one call.",
            "description": "Profile (identity; only with a token), featured products and categories (catalog), \
                            fetched concurrently. A part that fails or is too slow is left out and named in \
                            `degraded` instead of failing the response.",
            "parameters": [{"$ref": "#/components/parameters/XRequestId"}],
            "responses": {
                "200": {
                    "description": "Whatever parts arrived in time.",
                    "headers": headers,
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {
                            "user": user,
                            "featuredProducts": {"type": "array", "items": product},
                            "categories": {"type": "array", "items": category},
                            "degraded": {
                                "type": "array",
                                "items": {"type": "string", "enum": ["user", "featuredProducts", "categories"]},
                                "description": "Parts left out because their service failed or was too slow.",
                            },
                        },
                        "required": ["degraded"],
                    }}},
                },
                "401": {"$ref": "#/components/responses/Unauthenticated"},
                "429": {"$ref": "#/components/responses/TooManyRequests"},
                "default": {"$ref": "#/components/responses/Error"},
            },
            "security": [{}, {"bearerAuth": []}],
        })
    }

    pub(super) fn path_params(&mut self, route: &Route) -> Vec<Value> {
        let input = route.method.input();
        let mut out = Vec::new();
        for var in route.template.variables() {
            let Some(leaf) = resolve(&input, &var) else { continue };
            let mut param = json!({
                "name": var.join("."),
                "in": "path",
                "required": true,
                "schema": self.kind_schema(&leaf.kind()),
            });
            if let Some(text) = self.comments.field(&leaf) {
                param["description"] = json!(text);
            }
            out.push(param);
        }
        out
    }

    /// Query parameters for the fields of `message` under `prefix` (proto names) that neither the
    /// path nor the body sets and that text can express, the way transcode::query reads them.
    pub(super) fn query_params(
        &mut self,
        message: &MessageDescriptor,
        prefix: &[FieldDescriptor],
        bound: &[Vec<String>],
        body: Option<&str>,
        out: &mut Vec<Value>,
    ) {
        for field in message.fields() {
            if prefix.is_empty() && body == Some(field.name()) {
                continue;
            }
            let mut path: Vec<FieldDescriptor> = prefix.to_vec();
            path.push(field.clone());
            let names: Vec<&str> = path.iter().map(FieldDescriptor::name).collect();
            // A bound path equal to or above this field sets it; one below means recurse.
            if bound.iter().any(|b| b.len() <= names.len() && names.get(..b.len()).is_some_and(|p| p == b.as_slice())) {
                continue;
            }
            // Required only when every field on the way down is.
            let required = path.iter().all(|f| self.has_behavior(f, FieldBehavior::Required));
            if field.is_map() {
                continue;
            }
            let kind = field.kind();
            if let Kind::Message(m) = &kind
                && !is_text_wkt(m.full_name())
            {
                // The path's fields belong to every message on the way down: one of them again is a cycle.
                let cycle = path.iter().any(|f| f.parent_message() == m);
                if field.is_list() || is_wkt(m.full_name()) || cycle {
                    continue;
                }
                self.query_params(m, &path, bound, None, out);
                continue;
            }
            let item = self.kind_schema(&kind);
            let schema = if field.is_list() { json!({"type": "array", "items": item}) } else { item };
            let name: Vec<&str> = path.iter().map(FieldDescriptor::json_name).collect();
            let mut param = json!({"name": name.join("."), "in": "query", "required": required, "schema": schema});
            if let Some(text) = self.comments.field(&field) {
                param["description"] = json!(text);
            }
            if field.field_descriptor_proto().options.as_ref().and_then(|o| o.deprecated) == Some(true) {
                param["deprecated"] = json!(true);
            }
            out.push(param);
        }
    }

    pub(super) fn request_body(&mut self, route: &Route) -> Option<Value> {
        let input = route.method.input();
        let bound = route.template.variables();
        // An update with a field mask sends only what changes, so REQUIRED says nothing about
        // which properties a body must have.
        let partial = input
            .fields()
            .any(|f| matches!(f.kind(), Kind::Message(m) if m.full_name() == "google.protobuf.FieldMask"));
        let (schema, required) = match &route.body {
            BodyMapping::None => return None,
            BodyMapping::Whole => {
                let schema = self.request_object(&input, &bound, !partial);
                let required = schema.get("required").is_some();
                (schema, required)
            }
            BodyMapping::Field(name) => {
                let field = input.get_field_by_name(name)?;
                let below: Vec<Vec<String>> = bound.iter().filter_map(|b| below_field(b, name)).collect();
                let schema = match field.kind() {
                    Kind::Message(m) if !field.is_list() && !field.is_map() && !is_wkt(m.full_name()) => {
                        let mut schema = self.request_object(&m, &below, !partial);
                        if let Some(text) = self.comments.field(&field) {
                            schema["description"] = json!(text);
                        }
                        schema
                    }
                    _ => self.field_schema(&field),
                };
                (schema, self.has_behavior(&field, FieldBehavior::Required))
            }
        };
        Some(json!({"required": required, "content": {"application/json": {"schema": schema}}}))
    }

    /// An inline object schema for `message` less the `excluded` field paths, refusing unknown
    /// properties as the transcoder does.
    pub(super) fn request_object(
        &mut self,
        message: &MessageDescriptor,
        excluded: &[Vec<String>],
        with_required: bool,
    ) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in message.fields() {
            let name = field.name().to_owned();
            if excluded.iter().any(|e| e.as_slice() == std::slice::from_ref(&name)) {
                continue;
            }
            let below: Vec<Vec<String>> = excluded.iter().filter_map(|e| below_field(e, &name)).collect();
            let schema = match field.kind() {
                Kind::Message(m) if !below.is_empty() => {
                    let mut schema = self.request_object(&m, &below, with_required);
                    self.annotate(&mut schema, &field);
                    schema
                }
                _ => self.field_schema(&field),
            };
            if with_required && self.has_behavior(&field, FieldBehavior::Required) {
                required.push(json!(field.json_name()));
            }
            properties.insert(field.json_name().to_owned(), schema);
        }
        let mut schema = json!({"type": "object", "properties": properties, "additionalProperties": false});
        if let Some(text) = self.comments.get(&message.parent_file(), message.path()) {
            schema["description"] = json!(text);
        }
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        schema
    }

    pub(super) fn responses(&mut self, route: &Route) -> Value {
        let output = route.method.output();
        let (schema, description) = match route.response_body.as_deref().and_then(|n| output.get_field_by_name(n)) {
            Some(field) => (self.field_schema(&field), self.comments.field(&field).map(str::to_owned)),
            None => {
                (self.message_ref(&output), self.comments.get(&output.parent_file(), output.path()).map(str::to_owned))
            }
        };
        let content = if route.server_streaming {
            let name = output.full_name();
            json!({
                "text/event-stream": {"schema": {
                    "type": "string",
                    "description": format!(
                        "Server-Sent Events, chosen when `Accept` includes `text/event-stream`: one \
                         `data: <{name} JSON>` event per message; a failure ends the stream with \
                         `event: error` and `data: <{STATUS} JSON>`; `: keep-alive` comments every 15 s."
                    ),
                }},
                "application/x-ndjson": {"schema": {
                    "description": format!(
                        "Newline-delimited JSON otherwise: each line is `{{\"result\": <{name}>}}`, \
                         or `{{\"error\": <{STATUS}>}}` last when the stream fails."
                    ),
                    "type": "object",
                    "properties": {"result": schema, "error": {"$ref": format!("{SCHEMAS}{STATUS}")}},
                    "minProperties": 1,
                    "maxProperties": 1,
                }},
            })
        } else {
            json!({"application/json": {"schema": schema}})
        };
        let ok = json!({
            "description": description.unwrap_or_else(|| "OK".to_owned()),
            "headers": common_headers(),
            "content": content,
        });
        json!({
            "200": ok,
            "401": {"$ref": "#/components/responses/Unauthenticated"},
            "429": {"$ref": "#/components/responses/TooManyRequests"},
            "default": {"$ref": "#/components/responses/Error"},
        })
    }
}

/// The rest of `path` when it goes through field `name` and below it.
pub(super) fn below_field(path: &[String], name: &str) -> Option<Vec<String>> {
    match path.split_first() {
        Some((first, rest)) if first == name && !rest.is_empty() => Some(rest.to_vec()),
        _ => None,
    }
}

/// The field a path variable names, if every step resolves.
pub(super) fn resolve(message: &MessageDescriptor, path: &[String]) -> Option<FieldDescriptor> {
    let (last, parents) = path.split_last()?;
    let mut current = message.clone();
    for name in parents {
        current = match current.get_field_by_name(name)?.kind() {
            Kind::Message(m) => m,
            _ => return None,
        };
    }
    current.get_field_by_name(last)
}
