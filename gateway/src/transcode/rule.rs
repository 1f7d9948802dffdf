//! Reading a method's `google.api.http` option into flat bindings, one per HTTP verb and path.

use mercato::google::api::{HttpRule, http_rule::Pattern};
use prost_reflect::{DescriptorPool, ExtensionDescriptor, MethodDescriptor, Value};

use super::error::TranscodeError;

/// One binding of a method: the primary rule or one of its `additional_bindings`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Binding {
    pub http_method: http::Method,
    pub template: String,
    pub body: String,
    pub response_body: String,
}

/// The `google.api.http` extension, or `None` for a pool that never imported annotations.proto.
pub(crate) fn http_extension(pool: &DescriptorPool) -> Option<ExtensionDescriptor> {
    pool.get_extension_by_name("google.api.http")
}

pub(crate) fn bindings(method: &MethodDescriptor, ext: &ExtensionDescriptor) -> Result<Vec<Binding>, TranscodeError> {
    let options = method.options();
    if !options.has_extension(ext) {
        return Ok(Vec::new());
    }
    let invalid = |reason: String| TranscodeError::InvalidRule { method: method.full_name().to_owned(), reason };
    let rule: HttpRule = match options.get_extension(ext).as_ref() {
        Value::Message(m) => m.transcode_to().map_err(|e| invalid(e.to_string()))?,
        other => return Err(invalid(format!("expected a message, found {other:?}"))),
    };
    let mut out = vec![binding(&rule).map_err(&invalid)?];
    for extra in &rule.additional_bindings {
        if !extra.additional_bindings.is_empty() {
            return Err(invalid("additional_bindings cannot nest".to_owned()));
        }
        out.push(binding(extra).map_err(&invalid)?);
    }
    Ok(out)
}

fn binding(rule: &HttpRule) -> Result<Binding, String> {
    let (http_method, template) = match &rule.pattern {
        Some(Pattern::Get(p)) => (http::Method::GET, p.clone()),
        Some(Pattern::Put(p)) => (http::Method::PUT, p.clone()),
        Some(Pattern::Post(p)) => (http::Method::POST, p.clone()),
        Some(Pattern::Delete(p)) => (http::Method::DELETE, p.clone()),
        Some(Pattern::Patch(p)) => (http::Method::PATCH, p.clone()),
        Some(Pattern::Custom(c)) => {
            let m = http::Method::from_bytes(c.kind.as_bytes())
                .map_err(|_| format!("custom kind `{}` is not an HTTP method", c.kind))?;
            (m, c.path.clone())
        }
        None => return Err("no HTTP method and path".to_owned()),
    };
    Ok(Binding { http_method, template, body: rule.body.clone(), response_body: rule.response_body.clone() })
}
