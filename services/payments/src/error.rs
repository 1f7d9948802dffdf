//! payments' errors, and what a caller sees of each.

use mercato_kit::error as kit;
use sea_orm::DbErr;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("payment {0} not found")]
    PaymentNotFound(String),
    #[error("order {order_id} already has payment {existing}")]
    OrderHasPayment { order_id: String, existing: String },
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::PaymentNotFound(id) => kit::not_found("payment", &id),
            e @ Error::OrderHasPayment { .. } => kit::failed_precondition("PAYMENT", "order_id", e.to_string()),
            Error::Database(e) => kit::database(e),
        }
    }
}
