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
mod tests;
