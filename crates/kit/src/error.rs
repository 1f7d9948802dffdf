//! Building `tonic::Status` values with google.rpc error details, so that every service reports
//! bad input the same way: INVALID_ARGUMENT with one field violation per problem (the gateway
//! turns them into a 400 JSON body), NOT_FOUND naming the resource, and a generic INTERNAL whose
//! cause is logged, never sent.

use sea_orm::DbErr;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Collects field violations while a request is validated.
#[derive(Debug, Default)]
pub struct FieldViolations(Vec<(String, String)>);

impl FieldViolations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field` (a path such as `product.price.units`).
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    /// Records the error of `result`, if any, against `field`, and passes the value on.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.add(field, e.to_string())).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn violations(&self) -> &[(String, String)] {
        &self.0
    }

    /// `Ok(value)` if nothing was recorded and the value was built, else INVALID_ARGUMENT.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Status> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(self.into_status()),
        }
    }

    pub fn into_status(self) -> Status {
        let summary = match self.0.as_slice() {
            [] => "invalid request".to_string(),
            [(field, description)] => format!("invalid {field}: {description}"),
            [(field, description), rest @ ..] => {
                format!("invalid {field}: {description} (and {} more)", rest.len())
            }
        };
        let mut details = ErrorDetails::new();
        for (field, description) in self.0 {
            details.add_bad_request_violation(field, description);
        }
        Status::with_error_details(Code::InvalidArgument, summary, details)
    }
}

/// NOT_FOUND with a ResourceInfo detail.
pub fn not_found(resource_type: &str, name: &str) -> Status {
    let details = ErrorDetails::with_resource_info(resource_type, name, "", format!("no {resource_type} {name:?}"));
    Status::with_error_details(Code::NotFound, format!("{resource_type} {name:?} not found"), details)
}

/// FAILED_PRECONDITION with a PreconditionFailure detail.
pub fn failed_precondition(kind: &str, subject: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let details = ErrorDetails::with_precondition_failure_violation(kind, subject, description.clone());
    Status::with_error_details(Code::FailedPrecondition, description, details)
}

/// ALREADY_EXISTS with a BadRequest detail naming the field whose value is taken, so the edge
/// can point a form at it.
pub fn already_exists(field: &str, description: impl Into<String>, message: impl Into<String>) -> Status {
    let details = ErrorDetails::with_bad_request_violation(field, description);
    Status::with_error_details(Code::AlreadyExists, message, details)
}

/// A database failure: UNAVAILABLE when no connection could be had (pool exhausted, server
/// gone: clients may retry), else INTERNAL with the cause logged.
pub fn database(error: DbErr) -> Status {
    match error {
        e @ (DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) => unavailable("database", &anyhow::Error::new(e)),
        e => internal(&anyhow::Error::new(e)),
    }
}

/// A generic INTERNAL status for an unexpected failure. The cause chain is logged here (inside
/// the request's span, so with its request id); the client learns nothing of the internals.
pub fn internal(error: &anyhow::Error) -> Status {
    tracing::error!(error = format!("{error:#}"), "internal error");
    Status::internal("internal error")
}

/// UNAVAILABLE for a dependency that did not answer (database pool exhausted, broker down):
/// clients may retry.
pub fn unavailable(what: &str, error: &anyhow::Error) -> Status {
    tracing::warn!(error = format!("{error:#}"), dependency = what, "dependency unavailable");
    Status::unavailable(format!("{what} is unavailable, retry later"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_become_bad_request_details() {
        let mut v = FieldViolations::new();
        v.add("id", "must not be empty");
        v.add("page_size", "must not be negative");
        let status = v.into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("and 1 more"));
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request detail");
        let fields: Vec<_> = bad.field_violations.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["id", "page_size"]);
    }

    #[test]
    fn finish_passes_values_through_when_clean() {
        assert_eq!(FieldViolations::new().finish(Some(3)).ok(), Some(3));
        assert!(FieldViolations::new().finish::<u8>(None).is_err());
    }
}
