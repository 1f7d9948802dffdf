//! identity's one error type; `From<Error> for Status` is the only place codes are chosen.

use mercato_kit::error as kit;
use sea_orm::DbErr;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Wrong email or password: deliberately one message for both.
    #[error("invalid email or password")]
    BadCredentials,
    #[error("invalid or expired refresh token")]
    BadRefreshToken,
    #[error("refresh token reuse detected: every session of this login was revoked")]
    RefreshReuse,
    #[error("invalid service credentials")]
    BadServiceCredentials,
    #[error("{0} not found")]
    NotFound(&'static str, String),
    #[error("at most {0} addresses per account")]
    TooManyAddresses(u64),
    #[error("signing keys come from files; rotate by deploying new key files")]
    KeysFromFiles,
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error(transparent)]
    Internal(anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::EmailTaken => kit::already_exists("email", "is already registered", Error::EmailTaken.to_string()),
            e @ (Error::BadCredentials
            | Error::BadRefreshToken
            | Error::RefreshReuse
            | Error::BadServiceCredentials) => Status::unauthenticated(e.to_string()),
            Error::NotFound(kind, id) => kit::not_found(kind, &id),
            e @ Error::TooManyAddresses(_) => kit::failed_precondition("ADDRESS_LIMIT", "addresses", e.to_string()),
            e @ Error::KeysFromFiles => kit::failed_precondition("KEY_SOURCE", "signing_keys", e.to_string()),
            Error::Database(e) => kit::database(e),
            Error::Internal(e) => kit::internal(&e),
        }
    }
}
