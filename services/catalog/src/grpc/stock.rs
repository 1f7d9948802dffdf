//! StockService: the internal reservation API the checkout saga drives.

use mercato::catalog::v1::{self as pb, StockChangeReason, stock_service_server::StockService};
use mercato_kit::{db, events::Outbox};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use tonic::{Request, Response, Status};

use mercato_kit::auth::{Access, authorize};

use super::convert;
use crate::{error::Error, events, feed::StockFeed, storage::stock as store};

#[derive(Debug)]
pub struct StockApi {
    db: DatabaseConnection,
    outbox: Outbox,
    feed: StockFeed,
}

impl StockApi {
    pub fn new(db: DatabaseConnection, outbox: Outbox, feed: StockFeed) -> Self {
        Self { db, outbox, feed }
    }

    /// Publishes the new level of every product of a reservation this call moved, then
    /// commits the change with its events.
    async fn commit(
        &self,
        txn: DatabaseTransaction,
        record: &store::ReservationRecord,
        reason: StockChangeReason,
    ) -> Result<(), Error> {
        events::reservation_moved(&self.outbox, &txn, record, reason).await?;
        self.outbox.commit(txn).await?;
        Ok(())
    }

    /// Tells this replica's watchers about every product of a reservation that (may have) moved.
    fn changed(&self, record: &store::ReservationRecord) {
        self.feed.changed(record.lines.iter().map(|(id, _)| id));
    }
}

#[tonic::async_trait]
impl StockService for StockApi {
    async fn reserve_stock(
        &self,
        request: Request<pb::ReserveStockRequest>,
    ) -> Result<Response<pb::ReserveStockResponse>, Status> {
        authorize(&request, Access::Internal)?;
        let reserve = convert::reserve_stock_request(request.get_ref())?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = store::reserve(&txn, reserve.id.as_str(), &reserve.order_id, &reserve.lines).await?;
        self.commit(txn, &record, StockChangeReason::Reserved).await?;
        self.changed(&record);
        Ok(Response::new(pb::ReserveStockResponse { reservation: Some(convert::reservation(record)) }))
    }

    async fn release_stock(
        &self,
        request: Request<pb::ReleaseStockRequest>,
    ) -> Result<Response<pb::ReleaseStockResponse>, Status> {
        authorize(&request, Access::Internal)?;
        let id = convert::reservation_id_request(&request.get_ref().reservation_id)?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = store::release(&txn, id.as_str()).await?;
        self.commit(txn, &record, StockChangeReason::Released).await?;
        self.changed(&record);
        Ok(Response::new(pb::ReleaseStockResponse { reservation: Some(convert::reservation(record)) }))
    }

    async fn commit_stock(
        &self,
        request: Request<pb::CommitStockRequest>,
    ) -> Result<Response<pb::CommitStockResponse>, Status> {
        authorize(&request, Access::Internal)?;
        let id = convert::reservation_id_request(&request.get_ref().reservation_id)?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = store::commit(&txn, id.as_str()).await?;
        self.commit(txn, &record, StockChangeReason::Committed).await?;
        self.changed(&record);
        Ok(Response::new(pb::CommitStockResponse { reservation: Some(convert::reservation(record)) }))
    }

    async fn get_reservation(
        &self,
        request: Request<pb::GetReservationRequest>,
    ) -> Result<Response<pb::GetReservationResponse>, Status> {
        authorize(&request, Access::Internal)?;
        let id = convert::reservation_id_request(&request.get_ref().reservation_id)?;
        let record = store::get(&self.db, id.as_str())
            .await?
            .ok_or_else(|| Error::ReservationNotFound(id.as_str().to_string()))?;
        Ok(Response::new(pb::GetReservationResponse { reservation: Some(convert::reservation(record)) }))
    }
}
