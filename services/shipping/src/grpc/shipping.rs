//! ShippingService: a user reads the shipments of their own orders; an admin reads every one.
//! Someone else's shipment reads as NOT_FOUND, exactly as one that does not exist.

use mercato::shipping::v1::{self as pb, shipping_service_server::ShippingService};
use mercato_kit::auth::{Access, authorize};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::convert;
use crate::{error::Error, storage::shipments as store};

#[derive(Debug)]
pub struct ShippingApi {
    db: DatabaseConnection,
}

impl ShippingApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl ShippingService for ShippingApi {
    async fn get_shipment(
        &self,
        request: Request<pb::GetShipmentRequest>,
    ) -> Result<Response<pb::GetShipmentResponse>, Status> {
        let caller = authorize(&request, Access::Authenticated)?.cloned();
        let order_id = convert::order_id_request(&request.get_ref().order_id)?;
        let not_found = || Status::from(Error::ShipmentNotFound(order_id.clone()));
        let Some(caller) = caller else { return Err(not_found()) };
        let record = store::by_order(&self.db, &order_id).await.map_err(Error::from)?.ok_or_else(not_found)?;
        if !caller.is_admin() && record.row.user_id != caller.subject {
            return Err(not_found());
        }
        Ok(Response::new(pb::GetShipmentResponse { shipment: Some(convert::shipment(&record)) }))
    }
}
