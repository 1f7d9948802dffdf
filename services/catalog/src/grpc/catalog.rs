//! CatalogService: browsing (public) and administration (admin).

use std::pin::Pin;

use futures::Stream;
use mercato::catalog::v1::{self as pb, ProductChange, StockChangeReason, catalog_service_server::CatalogService};
use mercato_kit::{
    Shutdown,
    auth::{Access, authorize},
    db,
    events::Outbox,
};
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};

use super::convert;
use crate::{
    cache::ProductCache,
    domain::{page, product::ProductId},
    error::Error,
    events,
    feed::StockFeed,
    storage::products::{self, ListFilter},
};

#[derive(Debug)]
pub struct CatalogApi {
    db: DatabaseConnection,
    outbox: Outbox,
    feed: StockFeed,
    cache: ProductCache,
    /// Ends open WatchStock streams when the server shuts down, so draining does not wait on them.
    streams_stop: Shutdown,
}

impl CatalogApi {
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        feed: StockFeed,
        cache: ProductCache,
        streams_stop: Shutdown,
    ) -> Self {
        Self { db, outbox, feed, cache, streams_stop }
    }
}

pub type StockStream = Pin<Box<dyn Stream<Item = Result<pb::WatchStockResponse, Status>> + Send>>;

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        authorize(&request, Access::Public)?;
        let list = convert::list_products_request(request.into_inner())?;
        let filter = ListFilter {
            query: (!list.query.is_empty()).then(|| list.query.clone()),
            category: list.category.as_ref().map(|c| c.as_str().to_string()),
            after: list.cursor.map(|c| (c.after_name, c.after_id)),
            limit: list.limit,
        };
        let (records, more) = products::list(&self.db, &filter).await?;
        let next_page_token = match (more, records.last()) {
            (true, Some(last)) => page::ProductCursor {
                query: list.query,
                category: filter.category.unwrap_or_default(),
                after_name: last.product.name.clone(),
                after_id: last.product.id.clone(),
            }
            .encode(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListProductsResponse {
            products: records.into_iter().map(convert::product).collect(),
            next_page_token,
        }))
    }

    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::GetProductResponse>, Status> {
        authorize(&request, Access::Public)?;
        let id = convert::product_id_request(&request.get_ref().id, "id")?;
        let record = match self.cache.get(id.as_str()) {
            Some(record) => record,
            None => {
                let ticket = self.cache.ticket();
                let record =
                    products::get(&self.db, id.as_str()).await?.ok_or_else(|| Error::ProductNotFound(id.into()))?;
                self.cache.put(ticket, [&record]);
                record
            }
        };
        Ok(Response::new(pb::GetProductResponse { product: Some(convert::product(record)) }))
    }

    async fn batch_get_products(
        &self,
        request: Request<pb::BatchGetProductsRequest>,
    ) -> Result<Response<pb::BatchGetProductsResponse>, Status> {
        authorize(&request, Access::Public)?;
        let ids = convert::batch_get_request(request.get_ref())?;
        let mut cached: Vec<_> = ids.iter().map(|id| self.cache.get(id.as_str())).collect();
        let misses: Vec<ProductId> =
            ids.iter().zip(&cached).filter(|(_, hit)| hit.is_none()).map(|(id, _)| id.clone()).collect();
        if !misses.is_empty() {
            let ticket = self.cache.ticket();
            let read = products::batch_get(&self.db, &misses).await?;
            self.cache.put(ticket, &read);
            for record in read {
                if let Some(slot) = ids.iter().position(|id| id.as_str() == record.product.id) {
                    cached[slot] = Some(record);
                }
            }
        }
        let found: Vec<_> = cached.into_iter().flatten().collect();
        let missing_ids = ids
            .iter()
            .filter(|id| !found.iter().any(|r| r.product.id == id.as_str()))
            .map(ToString::to_string)
            .collect();
        Ok(Response::new(pb::BatchGetProductsResponse {
            products: found.into_iter().map(convert::product).collect(),
            missing_ids,
        }))
    }

    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::CreateProductResponse>, Status> {
        authorize(&request, Access::Admin)?;
        let (draft, initial_stock) = convert::create_product_request(request.get_ref())?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = products::create(&txn, draft, initial_stock).await?;
        events::product_changed(&self.outbox, &txn, &record, ProductChange::Created).await?;
        let id = record.product.id.as_str();
        events::stock_changed(&self.outbox, &txn, &[id], StockChangeReason::Created, "").await?;
        self.outbox.commit(txn).await.map_err(Error::from)?;
        Ok(Response::new(pb::CreateProductResponse { product: Some(convert::product(record)) }))
    }

    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::UpdateProductResponse>, Status> {
        authorize(&request, Access::Admin)?;
        let (id, patch) = convert::update_product_request(request.get_ref())?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = products::update(&txn, id.as_str(), patch).await?;
        events::product_changed(&self.outbox, &txn, &record, ProductChange::Updated).await?;
        self.outbox.commit(txn).await.map_err(Error::from)?;
        self.feed.changed([id.as_str()]);
        Ok(Response::new(pb::UpdateProductResponse { product: Some(convert::product(record)) }))
    }

    async fn adjust_stock(
        &self,
        request: Request<pb::AdjustStockRequest>,
    ) -> Result<Response<pb::AdjustStockResponse>, Status> {
        authorize(&request, Access::Admin)?;
        let (id, delta) = convert::adjust_stock_request(request.get_ref())?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let (on_hand, reserved) = products::adjust_stock(&txn, id.as_str(), delta).await?;
        events::stock_changed(&self.outbox, &txn, &[id.as_str()], StockChangeReason::Adjusted, "").await?;
        self.outbox.commit(txn).await.map_err(Error::from)?;
        self.feed.changed([id.as_str()]);
        Ok(Response::new(pb::AdjustStockResponse { stock: Some(convert::stock_level(on_hand, reserved)) }))
    }

    type WatchStockStream = StockStream;

    async fn watch_stock(&self, request: Request<pb::WatchStockRequest>) -> Result<Response<StockStream>, Status> {
        authorize(&request, Access::Public)?;
        let id = String::from(convert::product_id_request(&request.get_ref().product_id, "product_id")?);
        // Subscribe before the first read, so no change between the two is missed.
        let changes = self.feed.subscribe();
        let first = products::stock_level(&self.db, &id).await?.ok_or_else(|| Error::ProductNotFound(id.clone()))?;
        let state = WatchState {
            db: self.db.clone(),
            id,
            changes,
            last: None,
            first: Some(first),
            stop: self.streams_stop.clone(),
        };
        Ok(Response::new(Box::pin(futures::stream::unfold(state, next_level))))
    }

    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        authorize(&request, Access::Public)?;
        let categories = products::list_categories(&self.db).await?;
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: categories.into_iter().map(convert::category).collect(),
        }))
    }
}

struct WatchState {
    db: DatabaseConnection,
    id: String,
    changes: broadcast::Receiver<String>,
    last: Option<(i64, i64)>,
    first: Option<(i64, i64)>,
    stop: Shutdown,
}

/// The next level worth sending: the first one, then each one that differs from the last sent.
async fn next_level(mut s: WatchState) -> Option<(Result<pb::WatchStockResponse, Status>, WatchState)> {
    loop {
        let level = match s.first.take() {
            Some(level) => level,
            None => {
                let relevant = tokio::select! {
                    () = s.stop.wait() => return None,
                    change = s.changes.recv() => match change {
                        Ok(id) => id == s.id,
                        // Missed some notifications: reread to be sure.
                        Err(broadcast::error::RecvError::Lagged(_)) => true,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                };
                if !relevant {
                    continue;
                }
                match products::stock_level(&s.db, &s.id).await {
                    Ok(Some(level)) => level,
                    Ok(None) => return Some((Err(Error::ProductNotFound(s.id.clone()).into()), s)),
                    Err(e) => return Some((Err(e.into()), s)),
                }
            }
        };
        if s.last == Some(level) {
            continue;
        }
        s.last = Some(level);
        let message =
            pb::WatchStockResponse { product_id: s.id.clone(), stock: Some(convert::stock_level(level.0, level.1)) };
        return Some((Ok(message), s));
    }
}
