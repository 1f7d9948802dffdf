//! The OpenAPI 3.1 document of the REST API, generated from the route table and descriptors the
//! transcoder itself uses, so it cannot drift from what the gateway does. Served at
//! `/openapi.json`.
//!
//! Schemas follow the proto3 JSON mapping the transcoder speaks: lowerCamelCase names, 64-bit
//! integers as strings, enums by name, well-known types in their JSON forms. One schema per
//! message, keyed by its full proto name (there are three `Address` messages). Request bodies are
//! inlined, since they are the input message less what the path binds, and refuse unknown
//! properties as the transcoder does; shared schemas do not, since responses may grow.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use axum::routing::{MethodRouter, get};
use bytes::Bytes;
use http::{HeaderValue, header};
use mercato::google::api::FieldBehavior;
use prost_reflect::{
    DescriptorPool, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, Value as PValue,
};
use serde_json::{Map, Value, json};

use crate::transcode::{BodyMapping, Route, RouteTable};

/// Who may call an RPC. The services enforce this themselves (the edge only verifies a token it
/// is given and forwards it); this table is what the document tells clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No token needed.
    Public,
    /// A bearer token of any signed-in user.
    User,
    /// A bearer token carrying the `admin` role.
    Admin,
}

const PUBLIC: &[&str] = &[
    "mercato.identity.v1.IdentityService.Register",
    "mercato.identity.v1.IdentityService.Login",
    "mercato.identity.v1.IdentityService.Refresh",
    "mercato.identity.v1.IdentityService.GetJwks",
    "mercato.catalog.v1.CatalogService.ListProducts",
    "mercato.catalog.v1.CatalogService.GetProduct",
    "mercato.catalog.v1.CatalogService.BatchGetProducts",
    "mercato.catalog.v1.CatalogService.ListCategories",
    "mercato.catalog.v1.CatalogService.WatchStock",
];

const ADMIN: &[&str] = &[
    "mercato.catalog.v1.CatalogService.CreateProduct",
    "mercato.catalog.v1.CatalogService.UpdateProduct",
    "mercato.catalog.v1.CatalogService.AdjustStock",
];

fn access(method: &MethodDescriptor) -> Access {
    let name = method.full_name();
    if PUBLIC.contains(&name) {
        Access::Public
    } else if ADMIN.contains(&name) {
        Access::Admin
    } else {
        Access::User
    }
}

const SCHEMAS: &str = "#/components/schemas/";
const STATUS: &str = "google.rpc.Status";

const DESCRIPTION: &str = "\
REST/JSON face of the mercato gRPC mesh, transcoded at the edge gateway from the contracts' \
`google.api.http` annotations.

**JSON**: the proto3 canonical mapping. Field names are lowerCamelCase in responses (the original \
snake_case names are accepted in requests too); 64-bit integers are strings; enums are value \
names; timestamps are RFC 3339 strings; durations are strings such as `\"1.5s\"`; field masks are \
comma-separated paths; bytes are base64. Fields holding their default value are left out of \
responses. Unknown fields in a request body are refused.

**Query parameters**: any request field not bound by the path or the body, with dotted names for \
nested fields and one repetition per value for repeated fields. Routes whose body is the whole \
request take none.

**Errors**: the HTTP status grpc-gateway gives the gRPC code, with a `google.rpc.Status` JSON body \
whose `details` are `Any`s (`{\"@type\": ..., ...}`).

**Authentication**: `Authorization: Bearer <access token>` from `POST /v1/sessions`. A token that \
is sent is always verified (401 with `WWW-Authenticate` when bad), even on public routes.

**Streams**: server-streaming routes answer Server-Sent Events when the client accepts \
`text/event-stream`, newline-delimited JSON otherwise.

Every response may carry `X-Request-Id` and the `RateLimit-*` headers; a 429 carries `Retry-After`.";

/// A `GET` handler serving the document, rendered once here rather than per request.
pub fn route<S: Clone + Send + Sync + 'static>(routes: &RouteTable, pool: &DescriptorPool) -> MethodRouter<S> {
    let body = Bytes::from(document(routes, pool).to_string());
    get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body) }
    })
}

/// The OpenAPI 3.1.0 document describing every route of `routes`.
pub fn document(routes: &RouteTable, pool: &DescriptorPool) -> Value {
    let mut g = Generator::new(pool);
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut ids: HashSet<String> = HashSet::new();
    let mut tags: BTreeMap<String, Value> = BTreeMap::new();
    for route in routes.routes() {
        let path = route.template.openapi_path();
        let method = route.http_method.as_str().to_ascii_lowercase();
        let item = paths.entry(path.clone()).or_default();
        if item.contains_key(&method) {
            // Two templates such as `{name=a/*}` and `{name=b/*}` flatten to one OpenAPI path,
            // which can describe only one of them.
            tracing::warn!(%path, %method, rpc = route.method.full_name(), "route left out of the OpenAPI document");
            continue;
        }
        let service = route.method.parent_service();
        tags.entry(service.name().to_owned()).or_insert_with(|| {
            let mut tag = json!({"name": service.name()});
            if let Some(text) = g.comments.get(&service.parent_file(), service.path()) {
                tag["description"] = json!(text);
            }
            tag
        });
        let id = unique_id(&mut ids, &format!("{}_{}", service.name(), route.method.name()));
        item.insert(method, g.operation(route, id));
    }
    paths.entry("/v1/home".to_owned()).or_default().insert("get".to_owned(), g.home(&mut ids));
    tags.insert(
        "Gateway".to_owned(),
        json!({"name": "Gateway", "description": "Endpoints the gateway composes itself from several services."}),
    );
    g.message_ref_by_name(STATUS);
    let mut schemas = g.finish();
    if let Some(Value::Object(status)) = schemas.get_mut(STATUS) {
        // The gateway always writes all three members, defaults included.
        status.insert("required".to_owned(), json!(["code", "message", "details"]));
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mercato",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": tags.into_values().collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The `accessToken` of `POST /v1/sessions` or `POST /v1/sessions:refresh`: \
                                    an EdDSA (Ed25519) JWT whose keys are published at `GET /v1/jwks`.",
                },
            },
            "parameters": {
                "XRequestId": {
                    "name": "X-Request-Id",
                    "in": "header",
                    "required": false,
                    "description": "Correlation id; echoed on the response. Generated when absent.",
                    "schema": {"type": "string"},
                },
            },
            "headers": headers(),
            "responses": responses(),
        },
    })
}

fn unique_id(ids: &mut HashSet<String>, base: &str) -> String {
    let mut id = base.to_owned();
    let mut n = 2;
    while !ids.insert(id.clone()) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

fn headers() -> Value {
    let header = |description: &str, schema: Value| json!({"description": description, "schema": schema});
    json!({
        "X-Request-Id": header("The request's correlation id, as sent or generated.", json!({"type": "string"})),
        "RateLimit-Limit": header("Requests allowed per window.", json!({"type": "integer", "minimum": 0})),
        "RateLimit-Remaining": header("Requests left in the window.", json!({"type": "integer", "minimum": 0})),
        "RateLimit-Reset": header("Seconds until the window is full again.", json!({"type": "integer", "minimum": 0})),
        "Retry-After": header("Seconds to wait before retrying.", json!({"type": "integer", "minimum": 0})),
        "WWW-Authenticate": header(
            "The bearer challenge (RFC 6750), with `error=\"invalid_token\"` when a token was refused.",
            json!({"type": "string"}),
        ),
    })
}

fn common_headers() -> Map<String, Value> {
    ["X-Request-Id", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]
        .into_iter()
        .map(|h| (h.to_owned(), json!({"$ref": format!("#/components/headers/{h}")})))
        .collect()
}

fn responses() -> Value {
    let error = |description: &str, extra: &[&str]| {
        let mut headers = common_headers();
        for h in extra {
            headers.insert((*h).to_owned(), json!({"$ref": format!("#/components/headers/{h}")}));
        }
        json!({
            "description": description,
            "headers": headers,
            "content": {"application/json": {"schema": {"$ref": format!("{SCHEMAS}{STATUS}")}}},
        })
    };
    json!({
        "Error": error(
            "The call failed: the gRPC status as grpc-gateway maps it to HTTP (INVALID_ARGUMENT, \
             FAILED_PRECONDITION and OUT_OF_RANGE → 400, PERMISSION_DENIED → 403, NOT_FOUND → 404, \
             ALREADY_EXISTS and ABORTED → 409, UNIMPLEMENTED → 501, UNAVAILABLE → 503, \
             DEADLINE_EXCEEDED → 504, INTERNAL → 500...).",
            &[],
        ),
        "Unauthenticated": error("No valid token: missing where one is needed, expired, or refused.", &["WWW-Authenticate"]),
        "TooManyRequests": error("Rate limited; retry after `Retry-After` seconds.", &["Retry-After"]),
    })
}

/// Leading (else trailing) comments by file and source path.
struct Comments(HashMap<String, HashMap<Vec<i32>, String>>);

impl Comments {
    fn new(pool: &DescriptorPool) -> Self {
        let mut files = HashMap::new();
        for file in pool.files() {
            let Some(info) = &file.file_descriptor_proto().source_code_info else { continue };
            let mut by_path = HashMap::new();
            for location in &info.location {
                let text = location.leading_comments.as_deref().or(location.trailing_comments.as_deref());
                if let Some(text) = text.map(clean).filter(|t| !t.is_empty()) {
                    by_path.insert(location.path.clone(), text);
                }
            }
            files.insert(file.name().to_owned(), by_path);
        }
        Self(files)
    }

    fn get(&self, file: &FileDescriptor, path: &[i32]) -> Option<&str> {
        self.0.get(file.name())?.get(path).map(String::as_str)
    }

    fn field(&self, field: &FieldDescriptor) -> Option<&str> {
        self.get(&field.parent_file(), field.path())
    }
}

/// A comment without the space after `//` and trailing blanks, line breaks kept (Markdown
/// reads them as soft breaks).
fn clean(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end()).collect();
    lines.join("\n").trim().to_owned()
}

/// The first sentence of the first paragraph, on one line.
fn summary(text: &str) -> String {
    let paragraph = text.split("\n\n").next().unwrap_or(text);
    let flat = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat.get(..=end).unwrap_or(&flat).to_owned(),
        None => flat,
    }
}

/// A schema queued for `components.schemas`.
enum Pending {
    Message(MessageDescriptor),
    Enum(EnumDescriptor),
}

struct Generator<'a> {
    pool: &'a DescriptorPool,
    comments: Comments,
    behavior: Option<ExtensionDescriptor>,
    schemas: BTreeMap<String, Value>,
    queued: BTreeSet<String>,
    pending: Vec<Pending>,
}

impl<'a> Generator<'a> {
    fn new(pool: &'a DescriptorPool) -> Self {
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
    fn finish(mut self) -> BTreeMap<String, Value> {
        while let Some(next) = self.pending.pop() {
            let (name, schema) = match next {
                Pending::Message(m) => (m.full_name().to_owned(), self.message_schema(&m)),
                Pending::Enum(e) => (e.full_name().to_owned(), self.enum_schema(&e)),
            };
            self.schemas.insert(name, schema);
        }
        self.schemas
    }

    fn has_behavior(&self, field: &FieldDescriptor, wanted: FieldBehavior) -> bool {
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

    fn operation(&mut self, route: &Route, id: String) -> Value {
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
    fn home(&mut self, ids: &mut HashSet<String>) -> Value {
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

    fn path_params(&mut self, route: &Route) -> Vec<Value> {
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
    fn query_params(
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

    fn request_body(&mut self, route: &Route) -> Option<Value> {
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
    fn request_object(&mut self, message: &MessageDescriptor, excluded: &[Vec<String>], with_required: bool) -> Value {
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

    fn responses(&mut self, route: &Route) -> Value {
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

    /// A field's value as JSON writes it (map, list or single), with its comment and behaviour.
    fn field_schema(&mut self, field: &FieldDescriptor) -> Value {
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

    fn annotate(&self, schema: &mut Value, field: &FieldDescriptor) {
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

    fn kind_schema(&mut self, kind: &Kind) -> Value {
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

    fn message_ref_by_name(&mut self, name: &str) {
        if let Some(m) = self.pool.get_message_by_name(name) {
            self.message_ref(&m);
        }
    }

    /// A well-known type's JSON form inline, else a `$ref` to the message's schema (queued).
    fn message_ref(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = self.well_known(message) {
            return schema;
        }
        if self.queued.insert(message.full_name().to_owned()) {
            self.pending.push(Pending::Message(message.clone()));
        }
        json!({"$ref": format!("{SCHEMAS}{}", message.full_name())})
    }

    fn well_known(&mut self, message: &MessageDescriptor) -> Option<Value> {
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

    fn message_schema(&mut self, message: &MessageDescriptor) -> Value {
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

    fn enum_schema(&self, e: &EnumDescriptor) -> Value {
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

/// The rest of `path` when it goes through field `name` and below it.
fn below_field(path: &[String], name: &str) -> Option<Vec<String>> {
    match path.split_first() {
        Some((first, rest)) if first == name && !rest.is_empty() => Some(rest.to_vec()),
        _ => None,
    }
}

/// The field a path variable names, if every step resolves.
fn resolve(message: &MessageDescriptor, path: &[String]) -> Option<FieldDescriptor> {
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

fn is_wkt(name: &str) -> bool {
    name.starts_with("google.protobuf.")
}

fn is_wrapper(name: &str) -> bool {
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
fn is_text_wkt(name: &str) -> bool {
    matches!(name, "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask")
        || is_wrapper(name)
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use crate::mesh::is_public;

    static POOL: LazyLock<DescriptorPool> =
        LazyLock::new(|| DescriptorPool::decode(mercato::FILE_DESCRIPTOR_SET).expect("the descriptor set decodes"));
    static TABLE: LazyLock<RouteTable> =
        LazyLock::new(|| RouteTable::from_pool(&POOL, is_public).expect("the contracts give a route table"));
    static DOC: LazyLock<Value> = LazyLock::new(|| document(&TABLE, &POOL));

    fn op(method: &str, path: &str) -> &'static Value {
        DOC.pointer(&format!("/paths/{}/{method}", path.replace('~', "~0").replace('/', "~1")))
            .unwrap_or_else(|| panic!("no {method} {path}"))
    }

    fn schema(name: &str) -> &'static Value {
        DOC["components"]["schemas"].get(name).unwrap_or_else(|| panic!("no schema {name}"))
    }

    fn param_names(op: &Value, location: &str) -> Vec<String> {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == location)
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    }

    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn is_openapi_3_1_with_info_and_servers() {
        assert_eq!(DOC["openapi"], "3.1.0");
        assert_eq!(DOC["info"]["title"], "mercato");
        assert_eq!(DOC["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(DOC["info"]["description"].as_str().unwrap().contains("proto3"));
        assert_eq!(DOC["servers"], json!([{"url": "/"}]));
        assert_eq!(
            DOC["components"]["securitySchemes"]["bearerAuth"]["bearerFormat"], "JWT",
            "{}",
            DOC["components"]["securitySchemes"]
        );
    }

    #[test]
    fn every_route_is_an_operation_with_its_method_path_and_path_parameters() {
        assert!(TABLE.routes().len() >= 30);
        for route in TABLE.routes() {
            let method = route.http_method.as_str().to_ascii_lowercase();
            let op = op(&method, &route.template.openapi_path());
            let service = route.method.parent_service();
            assert_eq!(op["operationId"], format!("{}_{}", service.name(), route.method.name()));
            assert_eq!(op["tags"], json!([service.name()]));
            let want: Vec<String> = route.template.variables().iter().map(|v| v.join(".")).collect();
            assert_eq!(param_names(op, "path"), want, "{method} {}", route.raw_template);
            for p in op["parameters"].as_array().unwrap().iter().filter(|p| p["in"] == "path") {
                assert_eq!(p["required"], true);
            }
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(op["responses"]["200"]["content"].is_object());
            assert_eq!(op["responses"]["default"]["$ref"], "#/components/responses/Error");
            assert_eq!(op.get("requestBody").is_some(), route.body != BodyMapping::None, "{}", route.raw_template);
        }
        let operations: usize = DOC["paths"].as_object().unwrap().values().map(|i| i.as_object().unwrap().len()).sum();
        assert_eq!(operations, TABLE.routes().len() + 1, "every route, plus the hand-described GET /v1/home");
    }

    #[test]
    fn the_home_aggregate_is_described_with_optional_auth() {
        let home = op("get", "/v1/home");
        assert_eq!(home["security"], json!([{}, {"bearerAuth": []}]));
        let schema = &home["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(schema["properties"]["user"]["$ref"], "#/components/schemas/mercato.identity.v1.User");
        assert_eq!(
            schema["properties"]["featuredProducts"]["items"]["$ref"],
            "#/components/schemas/mercato.catalog.v1.Product"
        );
        assert!(DOC["components"]["schemas"]["mercato.catalog.v1.Category"].is_object());
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut seen = HashSet::new();
        for item in DOC["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                assert!(seen.insert(op["operationId"].as_str().unwrap().to_owned()), "{}", op["operationId"]);
            }
        }
        let mut ids = HashSet::new();
        assert_eq!(unique_id(&mut ids, "A_B"), "A_B");
        assert_eq!(unique_id(&mut ids, "A_B"), "A_B_2");
        assert_eq!(unique_id(&mut ids, "A_B"), "A_B_3");
    }

    #[test]
    fn every_ref_resolves() {
        let mut all = Vec::new();
        refs(&DOC, &mut all);
        assert!(all.len() > 100);
        for r in all {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external ref {r}"));
            assert!(DOC.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn same_named_messages_of_different_packages_are_distinct_schemas() {
        let identity = schema("mercato.identity.v1.Address");
        let orders = schema("mercato.orders.v1.Address");
        let shipping = schema("mercato.shipping.v1.Address");
        assert_eq!(identity["properties"]["id"]["readOnly"], true);
        assert!(identity["properties"].get("isDefault").is_some());
        assert!(orders["properties"].get("isDefault").is_none());
        assert_ne!(orders, shipping);
        assert_eq!(
            schema("mercato.orders.v1.Order")["properties"]["shippingAddress"]["$ref"],
            "#/components/schemas/mercato.orders.v1.Address"
        );
        assert_eq!(
            schema("mercato.shipping.v1.Shipment")["properties"]["address"]["$ref"],
            "#/components/schemas/mercato.shipping.v1.Address"
        );
    }

    #[test]
    fn schemas_follow_the_proto3_json_mapping() {
        let stock = &schema("mercato.catalog.v1.StockLevel")["properties"];
        assert_eq!(stock["onHand"]["type"], "string");
        assert_eq!(stock["onHand"]["format"], "int64");
        assert_eq!(schema("google.type.Money")["properties"]["units"]["format"], "int64");
        assert_eq!(schema("google.type.Money")["properties"]["nanos"]["type"], "integer");
        let product = &schema("mercato.catalog.v1.Product")["properties"];
        assert_eq!(product["createTime"]["format"], "date-time");
        assert_eq!(product["createTime"]["readOnly"], true);
        assert_eq!(product["categoryIds"]["type"], "array");
        assert!(product.get("category_ids").is_none());
        assert!(schema("mercato.catalog.v1.Product").get("additionalProperties").is_none());
        let status = schema("mercato.orders.v1.OrderStatus");
        assert_eq!(status["type"], "string");
        assert_eq!(status["enum"][3], "ORDER_STATUS_PAID");
        assert!(status["description"].as_str().unwrap().contains("`ORDER_STATUS_PAID`: The payment is completed"));
        let rpc = schema(STATUS);
        assert_eq!(rpc["required"], json!(["code", "message", "details"]));
        assert_eq!(rpc["properties"]["details"]["items"]["required"], json!(["@type"]));
    }

    #[test]
    fn comments_become_summaries_and_descriptions() {
        let get = op("get", "/v1/products/{id}");
        assert_eq!(get["summary"], "Returns one product by id.");
        assert_eq!(get["parameters"][0]["description"], "Id of the product.");
        let login = op("post", "/v1/sessions");
        assert_eq!(login["summary"], "Exchanges an email and password for a new session.");
        assert!(login["description"].as_str().unwrap().contains("cannot be probed"));
        let tags = DOC["tags"].as_array().unwrap();
        assert!(tags.iter().any(|t| t["name"] == "CatalogService" && t["description"].is_string()));
        assert_eq!(schema("mercato.catalog.v1.Product")["description"], "A product for sale.");
    }

    #[test]
    fn query_parameters_are_the_fields_neither_path_nor_body_sets() {
        assert_eq!(param_names(op("get", "/v1/products"), "query"), ["query", "category", "pageSize", "pageToken"]);
        assert!(param_names(op("get", "/v1/products/{id}"), "query").is_empty());
        let list = op("get", "/v1/orders");
        assert_eq!(list["parameters"][0]["schema"]["$ref"], "#/components/schemas/mercato.orders.v1.OrderStatus");
        // body: "product" leaves the mask to the query string, never the product's fields.
        assert_eq!(param_names(op("patch", "/v1/products/{id}"), "query"), ["updateMask"]);
        // body: "*" takes everything.
        for (method, path) in [("post", "/v1/orders"), ("post", "/v1/orders/{id}:cancel"), ("post", "/v1/sessions")] {
            assert!(param_names(op(method, path), "query").is_empty(), "{path}");
        }
        let last = op("get", "/v1/cart")["parameters"].as_array().unwrap().last().unwrap();
        assert_eq!(last["$ref"], "#/components/parameters/XRequestId");
    }

    #[test]
    fn request_bodies_are_the_input_less_the_path_and_refuse_unknown_fields() {
        let body = |method: &str, path: &str| op(method, path)["requestBody"].clone();
        let adjust = body("post", "/v1/products/{product_id}:adjustStock");
        let schema = &adjust["content"]["application/json"]["schema"];
        assert_eq!(schema["additionalProperties"], false);
        assert!(schema["properties"].get("productId").is_none());
        assert_eq!(schema["properties"]["delta"]["format"], "int64");
        assert_eq!(schema["required"], json!(["delta"]));

        let create = body("post", "/v1/products");
        assert_eq!(create["required"], true);
        let schema = &create["content"]["application/json"]["schema"];
        assert_eq!(schema["required"], json!(["sku", "name", "price"]));
        assert_eq!(schema["properties"]["id"]["readOnly"], true);
        assert_eq!(schema["additionalProperties"], false);

        // A masked update sends only what changes.
        let update = body("patch", "/v1/products/{id}");
        assert!(update["content"]["application/json"]["schema"].get("required").is_none());
        assert!(op("get", "/v1/products").get("requestBody").is_none());
        let cancel = body("post", "/v1/orders/{id}:cancel");
        assert_eq!(cancel["required"], false);
        assert_eq!(
            cancel["content"]["application/json"]["schema"]["properties"],
            json!({"reason": {
                "type": "string", "description": "Why the user cancels, at most 500 characters; kept as the cancellation message."
            }})
        );
    }

    #[test]
    fn streaming_routes_offer_sse_and_ndjson() {
        for path in ["/v1/products/{product_id}/stock:watch", "/v1/orders/{id}:watch"] {
            let content = op("get", path)["responses"]["200"]["content"].as_object().unwrap();
            let types: Vec<&String> = content.keys().collect();
            assert_eq!(types, ["application/x-ndjson", "text/event-stream"], "{path}");
            let line = &content["application/x-ndjson"]["schema"]["properties"];
            assert_eq!(line["error"]["$ref"], format!("{SCHEMAS}{STATUS}"));
            assert!(line["result"]["$ref"].as_str().unwrap().ends_with("Response"));
        }
        let unary = op("get", "/v1/products")["responses"]["200"]["content"].as_object().unwrap();
        assert_eq!(unary.keys().collect::<Vec<_>>(), ["application/json"]);
    }

    #[test]
    fn security_follows_the_access_table() {
        for item in DOC["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                if id == "Gateway_Home" {
                    continue; // not an RPC; its optional auth is checked on its own
                }
                let rpc = id.replacen('_', ".", 1);
                let want = if PUBLIC.iter().any(|m| m.ends_with(&rpc)) {
                    json!([])
                } else if ADMIN.iter().any(|m| m.ends_with(&rpc)) {
                    json!([{"bearerAuth": ["admin"]}])
                } else {
                    json!([{"bearerAuth": []}])
                };
                assert_eq!(op["security"], want, "{id}");
            }
        }
        assert_eq!(op("get", "/v1/products")["security"], json!([]));
        assert_eq!(op("get", "/v1/users/me")["security"], json!([{"bearerAuth": []}]));
        assert_eq!(op("post", "/v1/products")["security"], json!([{"bearerAuth": ["admin"]}]));
        // Every name in the table is a real RPC.
        for name in PUBLIC.iter().chain(ADMIN) {
            let (service, method) = name.rsplit_once('.').unwrap();
            let service = POOL.get_service_by_name(service).unwrap();
            assert!(service.methods().any(|m| m.name() == method), "{name}");
        }
    }

    #[test]
    fn output_is_deterministic() {
        let again = document(&TABLE, &POOL);
        assert_eq!(again.to_string(), DOC.to_string());
    }

    /// Shapes the contracts don't use yet: maps, oneofs, bytes, unsigned and floating numbers,
    /// Duration/Any, nested messages in the query string and cycles.
    #[test]
    fn other_field_shapes() {
        use prost_types::field_descriptor_proto::{Label, Type};
        use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, MessageOptions};

        let field = |name: &str, number: i32, ty: Type, type_name: Option<&str>, label: Label| FieldDescriptorProto {
            name: Some(name.to_owned()),
            number: Some(number),
            label: Some(label as i32),
            r#type: Some(ty as i32),
            type_name: type_name.map(str::to_owned),
            oneof_index: (name == "left" || name == "right").then_some(0),
            ..Default::default()
        };
        let one = Label::Optional;
        let many = Label::Repeated;
        let entry = DescriptorProto {
            name: Some("CountsEntry".to_owned()),
            field: vec![field("key", 1, Type::String, None, one), field("value", 2, Type::Int64, None, one)],
            options: Some(MessageOptions { map_entry: Some(true), ..Default::default() }),
            ..Default::default()
        };
        let inner = DescriptorProto {
            name: Some("Inner".to_owned()),
            field: vec![field("n", 1, Type::String, None, one), field("count", 2, Type::Int64, None, one)],
            ..Default::default()
        };
        let shape = DescriptorProto {
            name: Some("Shape".to_owned()),
            field: vec![
                field("counts", 1, Type::Message, Some(".t.Shape.CountsEntry"), many),
                field("left", 2, Type::String, None, one),
                field("right", 3, Type::Int32, None, one),
                field("blob", 4, Type::Bytes, None, one),
                field("big", 5, Type::Uint64, None, one),
                field("small", 6, Type::Uint32, None, one),
                field("ratio", 7, Type::Double, None, one),
                field("wait", 8, Type::Message, Some(".google.protobuf.Duration"), one),
                field("extra", 9, Type::Message, Some(".google.protobuf.Any"), one),
                field("child", 10, Type::Message, Some(".t.Shape"), one),
                field("waits", 11, Type::Message, Some(".google.protobuf.Duration"), many),
                field("children", 12, Type::Message, Some(".t.Shape"), many),
                field("inner", 13, Type::Message, Some(".t.Inner"), one),
            ],
            nested_type: vec![entry],
            oneof_decl: vec![prost_types::OneofDescriptorProto { name: Some("side".to_owned()), options: None }],
            ..Default::default()
        };
        let file = FileDescriptorProto {
            name: Some("t/shape.proto".to_owned()),
            package: Some("t".to_owned()),
            syntax: Some("proto3".to_owned()),
            dependency: vec!["google/protobuf/duration.proto".to_owned(), "google/protobuf/any.proto".to_owned()],
            message_type: vec![shape, inner],
            ..Default::default()
        };
        let mut pool = POOL.clone();
        pool.add_file_descriptor_proto(file).unwrap();
        let message = pool.get_message_by_name("t.Shape").unwrap();

        let mut g = Generator::new(&pool);
        let schema = g.message_schema(&message);
        let p = &schema["properties"];
        assert_eq!(
            p["counts"],
            json!({"type": "object", "additionalProperties": {"type": "string", "format": "int64"}})
        );
        assert_eq!(p["left"], json!({"type": "string"}));
        assert_eq!(p["blob"]["format"], "byte");
        assert_eq!(p["big"], json!({"type": "string", "format": "uint64"}));
        assert_eq!(p["small"]["maximum"], u32::MAX);
        assert_eq!(p["ratio"]["oneOf"][0]["format"], "double");
        assert_eq!(p["wait"]["type"], "string");
        assert_eq!(p["extra"]["required"], json!(["@type"]));
        assert_eq!(p["child"]["$ref"], "#/components/schemas/t.Shape");
        assert!(schema["description"].as_str().unwrap().contains("At most one of `left`, `right`"));

        let mut params = Vec::new();
        let bound = [vec!["inner".to_owned(), "n".to_owned()]];
        g.query_params(&message, &[], &bound, None, &mut params);
        let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
        // Maps, Any, repeated messages and the cycle back into Shape are left out, and so is the
        // path-bound `inner.n`; the rest of `inner` is dotted.
        assert_eq!(names, ["left", "right", "blob", "big", "small", "ratio", "wait", "waits", "inner.count"]);
        assert_eq!(params[7]["schema"]["type"], "array");

        let object = g.request_object(&message, &[vec!["child".to_owned(), "left".to_owned()]], true);
        assert_eq!(object["properties"]["child"]["additionalProperties"], false);
        assert!(object["properties"]["child"]["properties"].get("left").is_none());
        assert!(object["properties"]["child"]["properties"].get("right").is_some());
    }

    /// Set OPENAPI_DUMP=path to write the document, e.g. to validate it with other tools.
    #[test]
    fn dumps_the_document_when_asked() {
        if let Ok(path) = std::env::var("OPENAPI_DUMP") {
            std::fs::write(path, serde_json::to_string_pretty(&*DOC).unwrap()).unwrap();
        }
    }
}
