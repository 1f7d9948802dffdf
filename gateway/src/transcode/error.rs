//! The one error type of transcoding, and the only place its variants are given gRPC codes.

use tonic_types::{ErrorDetails, StatusExt};

use super::template::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    // Contract problems, found while building the route table.
    #[error("method {method}: invalid path template `{template}`: {source}")]
    InvalidTemplate { method: String, template: String, source: TemplateError },
    #[error("method {method}: invalid google.api.http rule: {reason}")]
    InvalidRule { method: String, reason: String },
    #[error("{http_method} {template} is bound to both {first} and {second}")]
    DuplicateRoute { http_method: http::Method, template: String, first: String, second: String },

    // The client's request.
    #[error("this endpoint takes no request body")]
    BodyNotAllowed,
    #[error("invalid request body: {reason}")]
    InvalidBody { field: Option<String>, reason: String },
    #[error("invalid path parameter `{field}`: {reason}")]
    InvalidPathParam { field: String, reason: String },
    #[error("unknown query parameter `{name}`")]
    UnknownQueryParam { name: String },
    #[error("query parameter `{name}` is not allowed: {reason}")]
    QueryParamNotAllowed { name: String, reason: String },
    #[error("invalid query parameter `{name}`: {reason}")]
    InvalidQueryParam { name: String, reason: String },

    // Ours or the upstream's.
    #[error("cannot render the response as JSON: {0}")]
    ResponseEncoding(String),
}

impl TranscodeError {
    /// Whether the client can fix this by sending a different request.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::BodyNotAllowed
                | Self::InvalidBody { .. }
                | Self::InvalidPathParam { .. }
                | Self::UnknownQueryParam { .. }
                | Self::QueryParamNotAllowed { .. }
                | Self::InvalidQueryParam { .. }
        )
    }

    /// The field or parameter a client error is about, as a `google.rpc.BadRequest` names it.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidBody { field, .. } => field.as_deref(),
            Self::InvalidPathParam { field, .. } => Some(field),
            Self::UnknownQueryParam { name }
            | Self::QueryParamNotAllowed { name, .. }
            | Self::InvalidQueryParam { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Client errors become INVALID_ARGUMENT carrying a field violation when the field is known;
    /// everything else is INTERNAL with a generic message, since it says nothing the client can act on.
    pub fn to_status(&self) -> tonic::Status {
        if !self.is_client_error() {
            return tonic::Status::internal("the gateway could not transcode this call");
        }
        let message = self.to_string();
        match self.field() {
            Some(field) => tonic::Status::with_error_details(
                tonic::Code::InvalidArgument,
                message.clone(),
                ErrorDetails::with_bad_request_violation(field, message),
            ),
            None => tonic::Status::invalid_argument(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_invalid_argument_with_a_field_violation() {
        let err = TranscodeError::UnknownQueryParam { name: "colour".into() };
        let status = err.to_status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "unknown query parameter `colour`");
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations.len(), 1);
        assert_eq!(bad.field_violations[0].field, "colour");
    }

    #[test]
    fn other_errors_are_internal_and_say_nothing_specific() {
        let err = TranscodeError::ResponseEncoding("secret upstream detail".into());
        let status = err.to_status();
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn body_errors_without_a_field_carry_no_violation() {
        let status = TranscodeError::BodyNotAllowed.to_status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.get_details_bad_request().is_none());
    }
}
