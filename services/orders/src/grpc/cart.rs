//! CartService: the caller's own cart, one per user. Products are checked against catalog
//! when added, so a cart never holds an id that named nothing at the time.

use mercato::orders::v1::{self as pb, cart_service_server::CartService};
use mercato_kit::{db, error::FieldViolations};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{convert, signed_in};
use crate::{
    catalog::Catalog,
    domain::cart::CartError,
    storage::carts::{self, Shown},
};

#[derive(Debug)]
pub struct CartApi {
    db: DatabaseConnection,
    catalog: Catalog,
}

impl CartApi {
    pub fn new(db: DatabaseConnection, catalog: Catalog) -> Self {
        Self { db, catalog }
    }

    async fn cart(&self, user_id: &str) -> Result<pb::Cart, Status> {
        Ok(convert::cart(user_id, &carts::items(&self.db, user_id).await?))
    }
}

#[tonic::async_trait]
impl CartService for CartApi {
    async fn get_cart(&self, request: Request<pb::GetCartRequest>) -> Result<Response<pb::GetCartResponse>, Status> {
        let caller = signed_in(&request)?;
        Ok(Response::new(pb::GetCartResponse { cart: Some(self.cart(&caller.subject).await?) }))
    }

    async fn add_cart_item(
        &self,
        request: Request<pb::AddCartItemRequest>,
    ) -> Result<Response<pb::AddCartItemResponse>, Status> {
        let caller = signed_in(&request)?;
        let (product_id, quantity) = convert::add_item_request(request.get_ref())?;
        let found = self.catalog.products(std::slice::from_ref(&product_id), &caller).await?;
        let Some(product) = found.products.into_iter().find(|p| p.id == product_id) else {
            return Err(mercato_kit::error::not_found("product", &product_id));
        };
        let price = product.price.as_ref().and_then(|p| mercato_kit::money::Money::try_from(p).ok());
        let user = caller.subject.as_str();
        let txn = db::begin_write(&self.db).await.map_err(crate::error::Error::from)?;
        let mut lines = carts::lines(&carts::items(&txn, user).await?);
        let total = lines.add(&product_id, quantity).map_err(|e| {
            let mut v = FieldViolations::new();
            match e {
                CartError::TooMany { .. } => v.add("quantity", e.to_string()),
                CartError::Full => v.add("product_id", e.to_string()),
            }
            v.into_status()
        })?;
        carts::put(&txn, user, &product_id, total.get(), Shown { name: &product.name, price }).await?;
        txn.commit().await.map_err(crate::error::Error::from)?;
        Ok(Response::new(pb::AddCartItemResponse { cart: Some(self.cart(user).await?) }))
    }

    async fn remove_cart_item(
        &self,
        request: Request<pb::RemoveCartItemRequest>,
    ) -> Result<Response<pb::RemoveCartItemResponse>, Status> {
        let caller = signed_in(&request)?;
        let mut v = FieldViolations::new();
        let product_id = convert::product_id(&mut v, &request.get_ref().product_id);
        let product_id = v.finish(product_id)?;
        carts::remove(&self.db, &caller.subject, &product_id).await?;
        Ok(Response::new(pb::RemoveCartItemResponse { cart: Some(self.cart(&caller.subject).await?) }))
    }
}
