//! catalog's one error type. `From<Error> for Status` is the only place gRPC codes are chosen.

use mercato_kit::error as kit;
use sea_orm::DbErr;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("product {0} not found")]
    ProductNotFound(String),
    #[error("reservation {0} not found")]
    ReservationNotFound(String),
    #[error("sku {0} is already used by another product")]
    SkuTaken(String),
    #[error("unknown categories: {0:?}")]
    UnknownCategories(Vec<String>),
    #[error("removing {removing} would leave {on_hand} on hand, below the {reserved} reserved")]
    StockBelowReserved { removing: i64, on_hand: i64, reserved: i64 },
    #[error("reservation {0} already exists with different lines")]
    ReservationConflict(String),
    #[error("reservation {id} is {status} and cannot be {action}")]
    ReservationState { id: String, status: &'static str, action: &'static str },
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::ProductNotFound(id) => kit::not_found("product", &id),
            Error::ReservationNotFound(id) => kit::not_found("reservation", &id),
            Error::SkuTaken(sku) => {
                let message = format!("sku {sku:?} is already used by another product");
                kit::already_exists("product.sku", message.clone(), message)
            }
            Error::UnknownCategories(ids) => {
                let mut v = kit::FieldViolations::new();
                for id in ids {
                    v.add("product.category_ids", format!("no category {id:?}"));
                }
                v.into_status()
            }
            e @ Error::StockBelowReserved { .. } => kit::failed_precondition("STOCK", "on_hand", e.to_string()),
            e @ Error::ReservationConflict(_) => kit::failed_precondition("RESERVATION", "lines", e.to_string()),
            e @ Error::ReservationState { .. } => kit::failed_precondition("RESERVATION", "status", e.to_string()),
            Error::Database(e) => kit::database(e),
        }
    }
}
