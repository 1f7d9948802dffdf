//! orders' calls to catalog: every one through the kit's [`Downstream`] (bulkhead, breaker,
//! deadline, retries), acting for the signed-in user whose token it forwards.

use std::time::Duration;

use mercato::catalog::v1::{self as pb, catalog_service_client::CatalogServiceClient};
use mercato_kit::{
    auth::{Caller, service_token::forward_user},
    client::{self, ClientMetrics, Downstream, DownstreamConfig, Idempotency},
    trace,
};
use tonic::{Code, Request, Status, transport::Channel};
use tracing::Instrument as _;

/// See the module docs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Catalog {
    downstream: Downstream,
    client: CatalogServiceClient<Channel>,
    timeout: Duration,
}

impl Catalog {
    pub fn new(
        url: &str,
        timeout: Duration,
        config: DownstreamConfig,
        metrics: &ClientMetrics,
    ) -> anyhow::Result<Self> {
        let downstream = Downstream::new("catalog", config, metrics.clone());
        let channel = client::observed_channel(url, &downstream)?;
        Ok(Self { downstream, client: CatalogServiceClient::new(channel), timeout })
    }

    /// The products of `ids` (each once) and the ids that name none. catalog failing or
    /// slow is UNAVAILABLE for the caller, with the reason logged.
    pub async fn products(&self, ids: &[String], caller: &Caller) -> Result<pb::BatchGetProductsResponse, Status> {
        let span = trace::client_span("/mercato.catalog.v1.CatalogService/BatchGetProducts");
        let result = self
            .downstream
            .call(Idempotency::Idempotent, self.timeout, |left| {
                let mut client = self.client.clone();
                let mut request = Request::new(pb::BatchGetProductsRequest { ids: ids.to_vec() });
                request.set_timeout(left);
                trace::inject_metadata(&span, request.metadata_mut());
                let forwarded = forward_user(caller, &mut request);
                async move {
                    forwarded?;
                    client.batch_get_products(request).await.map(tonic::Response::into_inner)
                }
            })
            .instrument(span.clone())
            .await;
        trace::record_client_code(&span, result.as_ref().map_or_else(Status::code, |_| Code::Ok));
        result.map_err(unavailable)
    }
}

/// What a caller of orders sees when catalog did not answer as it should: a request catalog
/// refused is our bug; anything else (a broken connection arrives as UNKNOWN) is catalog
/// being unavailable. Either way nothing was changed.
fn unavailable(status: Status) -> Status {
    tracing::warn!(code = ?status.code(), message = status.message(), "catalog call failed");
    match status.code() {
        Code::InvalidArgument => Status::internal("internal error"),
        _ => Status::unavailable("the product catalog is unavailable; nothing was changed, retry later"),
    }
}
