//! CartService: the caller's own cart, one per user. Products are checked against catalog
//! when added, so a cart never holds an id that named nothing at the time.

use mercato::orders::v1::{self as pb, cart_service_server::CartService};
use mercato_kit::error::FieldViolations;
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
        let shown = Shown { name: &product.name, price };
        if !carts::add(&self.db, user, &product_id, quantity, shown).await? {
            // Refused by the cart's rules as they stand now: say which one.
            let mut lines = carts::lines(&carts::items(&self.db, user).await?);
            let mut v = FieldViolations::new();
            match lines.add(&product_id, quantity) {
                Err(e @ CartError::TooMany { .. }) => v.add("quantity", e.to_string()),
                Err(e @ CartError::Full) => v.add("product_id", e.to_string()),
                // Another change to the cart came between the two statements.
                Ok(_) => return Err(Status::aborted("the cart changed while adding to it; try again")),
            }
            return Err(v.into_status());
        }
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
