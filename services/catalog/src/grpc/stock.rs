//! StockService: the internal reservation API the checkout saga drives.

use mercato::catalog::v1::{self as pb, stock_service_server::StockService};
use mercato_kit::{db, error::FieldViolations};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use mercato_kit::auth::{Access, authorize};

use super::convert;
use crate::{
    domain::stock::{self, Lines},
    error::Error,
    feed::StockFeed,
    storage::stock as store,
};

pub struct StockApi {
    db: DatabaseConnection,
    feed: StockFeed,
}

impl StockApi {
    pub fn new(db: DatabaseConnection, feed: StockFeed) -> Self {
        Self { db, feed }
    }

    /// Tells watchers about every product of a reservation that (may have) moved.
    fn changed(&self, record: &store::ReservationRecord) {
        self.feed.changed(record.lines.iter().map(|(id, _)| id));
    }
}

fn reservation_id(raw: &str, v: &mut FieldViolations) -> Option<String> {
    v.check("reservation_id", stock::reservation_id(raw))
}

#[tonic::async_trait]
impl StockService for StockApi {
    async fn reserve_stock(
        &self,
        request: Request<pb::ReserveStockRequest>,
    ) -> Result<Response<pb::ReserveStockResponse>, Status> {
        authorize(&request, Access::Internal)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = reservation_id(&req.reservation_id, &mut v);
        if req.order_id.len() > stock::MAX_RESERVATION_ID {
            v.add("order_id", format!("must be at most {} characters", stock::MAX_RESERVATION_ID));
        }
        let raw: Vec<(String, i32)> = req.lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect();
        let lines = match Lines::new(&raw) {
            Ok(lines) => Some(lines),
            Err(problems) => {
                for (field, problem) in problems {
                    v.add(field, problem);
                }
                None
            }
        };
        let (id, lines) = v.finish(id.zip(lines))?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = store::reserve(&txn, &id, &req.order_id, &lines).await?;
        txn.commit().await.map_err(Error::from)?;
        self.changed(&record);
        Ok(Response::new(pb::ReserveStockResponse { reservation: Some(convert::reservation(record)) }))
    }

    async fn release_stock(
        &self,
        request: Request<pb::ReleaseStockRequest>,
    ) -> Result<Response<pb::ReleaseStockResponse>, Status> {
        authorize(&request, Access::Internal)?;
        let mut v = FieldViolations::new();
        let id = reservation_id(&request.get_ref().reservation_id, &mut v);
        let id = v.finish(id)?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = store::release(&txn, &id).await?;
        txn.commit().await.map_err(Error::from)?;
        self.changed(&record);
        Ok(Response::new(pb::ReleaseStockResponse { reservation: Some(convert::reservation(record)) }))
    }

    async fn commit_stock(
        &self,
        request: Request<pb::CommitStockRequest>,
    ) -> Result<Response<pb::CommitStockResponse>, Status> {
        authorize(&request, Access::Internal)?;
        let mut v = FieldViolations::new();
        let id = reservation_id(&request.get_ref().reservation_id, &mut v);
        let id = v.finish(id)?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = store::commit(&txn, &id).await?;
        txn.commit().await.map_err(Error::from)?;
        self.changed(&record);
        Ok(Response::new(pb::CommitStockResponse { reservation: Some(convert::reservation(record)) }))
    }

    async fn get_reservation(
        &self,
        request: Request<pb::GetReservationRequest>,
    ) -> Result<Response<pb::GetReservationResponse>, Status> {
        authorize(&request, Access::Internal)?;
        let mut v = FieldViolations::new();
        let id = reservation_id(&request.get_ref().reservation_id, &mut v);
        let id = v.finish(id)?;
        let record = store::get(&self.db, &id).await?.ok_or(Error::ReservationNotFound(id))?;
        Ok(Response::new(pb::GetReservationResponse { reservation: Some(convert::reservation(record)) }))
    }
}
