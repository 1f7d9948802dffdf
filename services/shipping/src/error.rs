//! shipping's errors, and what a caller sees of each.

use mercato_kit::error as kit;
use sea_orm::DbErr;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("shipment of order {0} not found")]
    ShipmentNotFound(String),
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::ShipmentNotFound(order_id) => kit::not_found("shipment", &order_id),
            Error::Database(e) => kit::database(e),
        }
    }
}
