//! PaymentService: a user reads their own payments; an admin reads every one. Someone else's
//! payment reads as NOT_FOUND, exactly as one that does not exist.

use mercato::payments::v1::{self as pb, payment_service_server::PaymentService};
use mercato_kit::{
    auth::{Access, authorize},
    page,
};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::convert::{self, PaymentCursor};
use crate::{
    error::Error,
    storage::payments::{self as store, Listing},
};

#[derive(Debug)]
pub struct PaymentApi {
    db: DatabaseConnection,
}

impl PaymentApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl PaymentService for PaymentApi {
    async fn get_payment(
        &self,
        request: Request<pb::GetPaymentRequest>,
    ) -> Result<Response<pb::GetPaymentResponse>, Status> {
        let caller = authorize(&request, Access::Authenticated)?.cloned();
        let id = convert::payment_id_request(&request.get_ref().id)?;
        let not_found = || Status::from(Error::PaymentNotFound(id.to_string()));
        let record = store::get(&self.db, id.as_str()).await?.ok_or_else(not_found)?;
        let Some(caller) = caller else { return Err(not_found()) };
        if !caller.is_admin() && record.row.user_id != caller.subject {
            return Err(not_found());
        }
        Ok(Response::new(pb::GetPaymentResponse { payment: Some(convert::payment(&record)) }))
    }

    async fn list_payments(
        &self,
        request: Request<pb::ListPaymentsRequest>,
    ) -> Result<Response<pb::ListPaymentsResponse>, Status> {
        let caller = authorize(&request, Access::Authenticated)?.cloned();
        let (order_id, limit, cursor) = convert::list_request(request.get_ref())?;
        let Some(caller) = caller else { return Err(Status::unauthenticated("sign in first")) };
        let listing = Listing {
            owner: (!caller.is_admin()).then(|| caller.subject.clone()),
            order_id: order_id.clone(),
            before: cursor.map(|c| (c.before_created, c.before_id)),
            // One more than asked: whether there is a next page.
            limit: limit + 1,
        };
        let mut records = store::list(&self.db, &listing).await?;
        let more = page::trim(&mut records, limit);
        let next_page_token = match (more, records.last()) {
            (true, Some(last)) => page::encode(&PaymentCursor {
                order_id: order_id.unwrap_or_default(),
                before_created: last.row.created_at,
                before_id: last.row.id.clone(),
            }),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListPaymentsResponse {
            payments: records.iter().map(convert::payment).collect(),
            next_page_token,
        }))
    }
}
