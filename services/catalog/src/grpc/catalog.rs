//! CatalogService: browsing (public) and administration (admin).

use mercato::catalog::v1::{self as pb, catalog_service_server::CatalogService};
use mercato_kit::{db, error::FieldViolations};
use std::pin::Pin;

use futures::Stream;
use mercato_kit::Shutdown;
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};

use mercato_kit::auth::{Access, authorize};

use super::convert;
use crate::{
    cache::ProductCache,
    domain::{page, product as rules},
    error::Error,
    feed::StockFeed,
    storage::products::{self, ListFilter},
};

/// Longest free-text query accepted.
const MAX_QUERY: usize = 200;
/// Most ids one BatchGetProducts may ask for.
const MAX_BATCH: usize = 100;
/// Bound on a single stock movement, far above any real delivery, far below overflow.
const MAX_STOCK: i64 = 1_000_000_000;

pub struct CatalogApi {
    db: DatabaseConnection,
    feed: StockFeed,
    cache: ProductCache,
    /// Ends open WatchStock streams when the server shuts down, so draining does not wait on them.
    streams_stop: Shutdown,
}

impl CatalogApi {
    pub fn new(db: DatabaseConnection, feed: StockFeed, cache: ProductCache, streams_stop: Shutdown) -> Self {
        Self { db, feed, cache, streams_stop }
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
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let query = req.query.trim().to_lowercase();
        if query.chars().count() > MAX_QUERY {
            v.add("query", format!("must be at most {MAX_QUERY} characters"));
        }
        let category = req.category.trim().to_string();
        if !category.is_empty() {
            v.check("category", rules::category_id(&category));
        }
        let limit = v.check("page_size", page::page_size(req.page_size));
        let cursor = if req.page_token.is_empty() {
            Some(None)
        } else {
            v.check("page_token", page::ProductCursor::decode(&req.page_token, &query, &category)).map(Some)
        };
        let (limit, cursor) = v.finish(limit.zip(cursor))?;

        let filter = ListFilter {
            query: (!query.is_empty()).then(|| query.clone()),
            category: (!category.is_empty()).then(|| category.clone()),
            after: cursor.map(|c| (c.after_name, c.after_id)),
            limit,
        };
        let (records, more) = products::list(&self.db, &filter).await?;
        let next_page_token = match (more, records.last()) {
            (true, Some(last)) => page::ProductCursor {
                query,
                category,
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
        let mut v = FieldViolations::new();
        let id = v.check("id", rules::product_id(&request.get_ref().id));
        let id = v.finish(id)?;
        let record = match self.cache.get(&id) {
            Some(record) => record,
            None => {
                let record = products::get(&self.db, &id).await?.ok_or(Error::ProductNotFound(id))?;
                self.cache.put(&record);
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
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if req.ids.is_empty() {
            v.add("ids", "must name at least one product");
        }
        if req.ids.len() > MAX_BATCH {
            v.add("ids", format!("at most {MAX_BATCH} ids"));
        }
        let mut ids: Vec<String> = Vec::with_capacity(req.ids.len());
        for (i, raw) in req.ids.iter().enumerate() {
            if let Some(id) = v.check(&format!("ids[{i}]"), rules::product_id(raw))
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        let ids = v.finish(Some(ids))?;
        let mut cached: Vec<_> = ids.iter().map(|id| self.cache.get(id)).collect();
        let misses: Vec<String> =
            ids.iter().zip(&cached).filter(|(_, hit)| hit.is_none()).map(|(id, _)| id.clone()).collect();
        if !misses.is_empty() {
            for record in products::batch_get(&self.db, &misses).await? {
                self.cache.put(&record);
                if let Some(slot) = ids.iter().position(|id| *id == record.product.id) {
                    cached[slot] = Some(record);
                }
            }
        }
        let found: Vec<_> = cached.into_iter().flatten().collect();
        let missing_ids = ids.iter().filter(|id| !found.iter().any(|r| &r.product.id == *id)).cloned().collect();
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
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let draft = convert::draft(req.product.as_ref(), &mut v);
        if !(0..=MAX_STOCK).contains(&req.initial_stock) {
            v.add("initial_stock", format!("must be 0-{MAX_STOCK}"));
        }
        let draft = v.finish(draft)?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = products::create(&txn, draft, req.initial_stock).await?;
        txn.commit().await.map_err(Error::from)?;
        Ok(Response::new(pb::CreateProductResponse { product: Some(convert::product(record)) }))
    }

    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::UpdateProductResponse>, Status> {
        authorize(&request, Access::Admin)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = v.check("id", rules::product_id(&req.id));
        let patch = convert::patch(req.product.as_ref(), req.update_mask.as_ref(), &mut v);
        let (id, patch) = v.finish(id.zip(patch))?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = products::update(&txn, &id, patch).await?;
        txn.commit().await.map_err(Error::from)?;
        self.feed.changed([id.as_str()]);
        Ok(Response::new(pb::UpdateProductResponse { product: Some(convert::product(record)) }))
    }

    async fn adjust_stock(
        &self,
        request: Request<pb::AdjustStockRequest>,
    ) -> Result<Response<pb::AdjustStockResponse>, Status> {
        authorize(&request, Access::Admin)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = v.check("product_id", rules::product_id(&req.product_id));
        if req.delta == 0 || req.delta.abs() > MAX_STOCK {
            v.add("delta", format!("must be non-zero and within ±{MAX_STOCK}"));
        }
        let id = v.finish(id)?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let (on_hand, reserved) = products::adjust_stock(&txn, &id, req.delta).await?;
        txn.commit().await.map_err(Error::from)?;
        self.feed.changed([id.as_str()]);
        Ok(Response::new(pb::AdjustStockResponse { stock: Some(convert::stock_level(on_hand, reserved)) }))
    }

    type WatchStockStream = StockStream;

    async fn watch_stock(&self, request: Request<pb::WatchStockRequest>) -> Result<Response<StockStream>, Status> {
        authorize(&request, Access::Public)?;
        let mut v = FieldViolations::new();
        let id = v.check("product_id", rules::product_id(&request.get_ref().product_id));
        let id = v.finish(id)?;
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
