//! Building the gRPC request message from an HTTP request: body, then path bindings, then query.
//!
//! Path bindings win over the body: `POST /v1/orders/o1:cancel {"id": "o2"}` cancels `o1`, as
//! grpc-gateway and Envoy do. The body is parsed first and the path written over it, so a path
//! variable nested in the body field (`{product.id}` with `body: "product"`) merges into it.

use prost_reflect::{DynamicMessage, MessageDescriptor};

use super::error::TranscodeError;
use super::fields::{self, Write};
use super::query;
use super::routes::{BodyMapping, RouteMatch};

pub fn build_request(m: &RouteMatch<'_>, query: Option<&str>, body: &[u8]) -> Result<DynamicMessage, TranscodeError> {
    let route = m.route;
    let input = route.method.input();
    let mut message = parse_body(&input, &route.body, body)?;

    let mut bound = Vec::with_capacity(m.bindings.len());
    for (path, value) in &m.bindings {
        let field = path.join(".");
        let resolved = fields::resolve(&input, path, false).map_err(|_| TranscodeError::InvalidPathParam {
            field: field.clone(),
            reason: "no such field".to_owned(),
        })?;
        fields::set_from_text(&mut message, &resolved, value, Write::Overwrite)
            .map_err(|reason| TranscodeError::InvalidPathParam { field, reason })?;
        bound.push(resolved);
    }

    if let Some(q) = query {
        query::apply(&mut message, q, &route.body, &bound)?;
    }
    Ok(message)
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

fn parse_body(input: &MessageDescriptor, mapping: &BodyMapping, body: &[u8]) -> Result<DynamicMessage, TranscodeError> {
    match mapping {
        BodyMapping::None if is_blank(body) => Ok(DynamicMessage::new(input.clone())),
        BodyMapping::None => Err(TranscodeError::BodyNotAllowed),
        BodyMapping::Whole if is_blank(body) => Ok(DynamicMessage::new(input.clone())),
        BodyMapping::Whole => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let message = DynamicMessage::deserialize(input.clone(), &mut de).map_err(|e| body_error(None, &e))?;
            de.end().map_err(|e| body_error(None, &e))?;
            Ok(message)
        }
        BodyMapping::Field(_) if is_blank(body) => Ok(DynamicMessage::new(input.clone())),
        BodyMapping::Field(name) => {
            // Parse the body as the value of that one field by wrapping it, which reuses the JSON
            // mapping for whatever the field's type is (message, repeated, well-known type...).
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| body_error(Some(name), &e))?;
            let mut wrapper = serde_json::Map::new();
            wrapper.insert(name.clone(), value);
            DynamicMessage::deserialize(input.clone(), serde_json::Value::Object(wrapper))
                .map_err(|e| body_error(Some(name), &e))
        }
    }
}

fn body_error(field: Option<&str>, e: &serde_json::Error) -> TranscodeError {
    TranscodeError::InvalidBody { field: field.map(str::to_owned), reason: e.to_string() }
}
