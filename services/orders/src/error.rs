//! orders' errors, and what a caller sees of each.

use mercato_kit::error as kit;
use sea_orm::DbErr;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("order {0} not found")]
    OrderNotFound(String),
    #[error("the cart is empty")]
    EmptyCart,
    #[error("products no longer exist: {}", .0.join(", "))]
    ProductsGone(Vec<String>),
    #[error("the cart mixes currencies ({0}); an order is paid in one")]
    MixedCurrencies(String),
    #[error("order {id} cannot be cancelled: {why}")]
    NotCancellable { id: String, why: &'static str },
    /// Stored state that cannot be: a bug, or a hand-edited row.
    #[error("order {id}: {why}")]
    Broken { id: String, why: String },
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::OrderNotFound(id) => kit::not_found("order", &id),
            e @ Error::EmptyCart => kit::failed_precondition("CART", "cart", e.to_string()),
            Error::ProductsGone(ids) => kit::failed_precondition(
                "PRODUCT",
                &ids.join(","),
                format!("products in the cart no longer exist: {}; remove them and try again", ids.join(", ")),
            ),
            e @ Error::MixedCurrencies(_) => kit::failed_precondition("CART", "cart", e.to_string()),
            e @ Error::NotCancellable { .. } => kit::failed_precondition("ORDER_STATUS", "status", e.to_string()),
            e @ Error::Broken { .. } => kit::internal(&anyhow::Error::new(e)),
            Error::Database(e) => kit::database(e),
        }
    }
}
