//! The OpenAPI 3.1 document of the REST API, generated from the route table and descriptors the
//! transcoder itself uses, so it cannot drift from what the gateway does. Served at
//! `/openapi.json`.
//!
//! Schemas follow the proto3 JSON mapping the transcoder speaks: lowerCamelCase names, 64-bit
//! integers as strings, enums by name, well-known types in their JSON forms. One schema per
//! message, keyed by its full proto name (there are three `Address` messages). Request bodies are
//! inlined, since they are the input message less what the path binds, and refuse unknown
//! properties as the transcoder does; shared schemas do not, since responses may grow.

use std::collections::{BTreeMap, HashSet};

use axum::routing::{MethodRouter, get};
use bytes::Bytes;
use http::{HeaderValue, header};
use prost_reflect::{DescriptorPool, MethodDescriptor};
use serde_json::{Map, Value, json};

use crate::transcode::RouteTable;

mod comments;
mod operations;
mod schemas;

use schemas::Generator;

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
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": false,
                    "description": "Makes retries safe: every call of one user with the same key has the effect \
                                    of the first. Fills the body's `idempotencyKey` when the body leaves it empty.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                },
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

#[cfg(test)]
mod tests;
