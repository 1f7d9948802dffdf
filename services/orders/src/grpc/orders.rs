//! OrderService: checking out the caller's cart, reading and watching their orders, and
//! cancelling one. Someone else's order reads as NOT_FOUND, exactly as one that does not
//! exist; admins read every order.

use std::pin::Pin;

use futures::Stream;
use mercato::orders::v1::{self as pb, order_service_server::OrderService};
use mercato_kit::{
    Shutdown,
    auth::Caller,
    db,
    domain::new_uuid,
    events::Outbox,
    money::{Currency, Money},
    page,
};
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::{self, error::RecvError};
use tonic::{Request, Response, Status};

use super::{convert, signed_in};
use crate::{
    catalog::Catalog,
    domain::{
        order::OrderId,
        saga::{Input, Step},
    },
    error::{Error, Result},
    metrics::OrderMetrics,
    saga::{self, Advanced, Detail, Timing},
    storage::{
        carts,
        entity::cart_item,
        orders::{self as store, Listing, NewLine, NewOrder, OrderRecord},
    },
    watch::Changes,
};

#[derive(Debug)]
pub struct OrderApi {
    db: DatabaseConnection,
    outbox: Outbox,
    catalog: Catalog,
    timing: Timing,
    changes: Changes,
    stop: Shutdown,
    metrics: OrderMetrics,
}

impl OrderApi {
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        catalog: Catalog,
        timing: Timing,
        changes: Changes,
        stop: Shutdown,
        metrics: OrderMetrics,
    ) -> Self {
        Self { db, outbox, catalog, timing, changes, stop, metrics }
    }

    /// The order if `caller` may see it.
    async fn visible(&self, caller: &Caller, id: &OrderId) -> Result<OrderRecord> {
        match store::get(&self.db, id.as_str()).await? {
            Some(record) if may_see(caller, &record) => Ok(record),
            _ => Err(Error::OrderNotFound(id.to_string())),
        }
    }

    /// PlaceOrder's answer for an order that exists already (a repeated key).
    async fn placed(&self, record: &OrderRecord) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        Ok(Response::new(pb::PlaceOrderResponse { order: Some(self.view(record).await?) }))
    }

    async fn view(&self, record: &OrderRecord) -> Result<pb::Order> {
        Ok(convert::order(record, &store::lines(&self.db, &record.row.id).await?))
    }

    /// Prices the cart with catalog's current prices: the lines and their subtotal.
    async fn price(&self, caller: &Caller, items: &[cart_item::Model]) -> Result<(Vec<NewLine>, Money), Status> {
        let ids: Vec<String> = items.iter().map(|i| i.product_id.clone()).collect();
        let found = self.catalog.products(&ids, caller).await?;
        if !found.missing_ids.is_empty() {
            return Err(Error::ProductsGone(found.missing_ids).into());
        }
        let mut lines = Vec::with_capacity(items.len());
        for item in items {
            let product = found
                .products
                .iter()
                .find(|p| p.id == item.product_id)
                .ok_or_else(|| Error::ProductsGone(vec![item.product_id.clone()]))?;
            let unit_price = product
                .price
                .as_ref()
                .and_then(|p| Money::try_from(p).ok())
                .ok_or_else(|| Status::internal("catalog sent a product without a valid price"))?;
            let quantity = u32::try_from(item.quantity).unwrap_or(1);
            let total = unit_price.times(quantity).map_err(|e| Status::internal(format!("pricing: {e}")))?;
            lines.push(NewLine {
                product_id: product.id.clone(),
                product_name: product.name.clone(),
                unit_price,
                quantity,
                total,
            });
        }
        let currency: Currency = lines.first().map(|l| l.unit_price.currency()).ok_or(Error::EmptyCart)?;
        if lines.iter().any(|l| l.unit_price.currency() != currency) {
            let mut seen: Vec<String> = lines.iter().map(|l| l.unit_price.currency().as_str().to_string()).collect();
            seen.sort_unstable();
            seen.dedup();
            return Err(Error::MixedCurrencies(seen.join(", ")).into());
        }
        let subtotal = Money::sum(currency, lines.iter().map(|l| l.total))
            .map_err(|e| Status::invalid_argument(format!("the order's total is out of range: {e}")))?;
        Ok((lines, subtotal))
    }
}

fn may_see(caller: &Caller, record: &OrderRecord) -> bool {
    caller.is_admin() || record.row.user_id == caller.subject
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchOrderResponse, Status>> + Send>>;

#[tonic::async_trait]
impl OrderService for OrderApi {
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let caller = signed_in(&request)?;
        let checkout = convert::place_request(request.get_ref())?;
        let user = caller.subject.as_str();
        if let Some(existing) = store::by_key(&self.db, user, checkout.key.as_str()).await? {
            return self.placed(&existing).await;
        }
        let items = carts::items(&self.db, user).await?;
        if items.is_empty() {
            // A concurrent call with this key may have checked the cart out since the first
            // look: the order and the emptied cart committed together.
            if let Some(existing) = store::by_key(&self.db, user, checkout.key.as_str()).await? {
                return self.placed(&existing).await;
            }
            return Err(Error::EmptyCart.into());
        }
        let (lines, subtotal) = self.price(&caller, &items).await?;
        let id = OrderId::generate();
        let payment_id = new_uuid();
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let inserted = store::insert(
            &txn,
            NewOrder {
                id: id.as_str(),
                user_id: user,
                idempotency_key: checkout.key.as_str(),
                subtotal,
                // v1 has no shipping fees or taxes.
                total: subtotal,
                address: &checkout.address,
                payment_id: &payment_id,
                payment_token: checkout.token.expose(),
                lines: &lines,
                step: Step::start().0,
                deadline_at: saga::deadline(self.timing),
            },
        )
        .await;
        let (record, lines) = match inserted {
            Ok(inserted) => inserted,
            // A concurrent call with the same key won: its order is this call's too.
            Err(Error::Database(e)) if db::is_unique_violation(&e) => {
                drop(txn);
                let existing = store::by_key(&self.db, user, checkout.key.as_str())
                    .await?
                    .ok_or_else(|| Status::aborted("a concurrent checkout with this key failed; retry"))?;
                return self.placed(&existing).await;
            }
            Err(e) => return Err(e.into()),
        };
        carts::remove_checked_out(&txn, user, &items).await?;
        let order = convert::order(&record, &lines);
        saga::start(&txn, &self.outbox, &record, &lines, &order).await?;
        self.outbox.commit(txn).await.map_err(Error::from)?;
        // Only here: every return above answered with an order that exists already.
        self.metrics.placed(subtotal.currency());
        tracing::info!(order_id = %id, user_id = user, total = %subtotal, lines = lines.len(), "order placed");
        Ok(Response::new(pb::PlaceOrderResponse { order: Some(order) }))
    }

    async fn get_order(&self, request: Request<pb::GetOrderRequest>) -> Result<Response<pb::GetOrderResponse>, Status> {
        let caller = signed_in(&request)?;
        let id = convert::order_id_request(&request.get_ref().id)?;
        let record = self.visible(&caller, &id).await?;
        let order = self.view(&record).await?;
        let steps = store::steps(&self.db, id.as_str()).await?.iter().map(convert::step).collect();
        Ok(Response::new(pb::GetOrderResponse { order: Some(order), steps }))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let caller = signed_in(&request)?;
        let (status, limit, cursor) = convert::list_request(request.get_ref())?;
        let listing = Listing {
            owner: (!caller.is_admin()).then(|| caller.subject.clone()),
            status,
            before: cursor.map(|c| (c.before_created, c.before_id)),
            // One more than asked: whether there is a next page.
            limit: limit + 1,
        };
        let mut records = store::list(&self.db, &listing).await?;
        let more = page::trim(&mut records, limit);
        let next_page_token = match (more, records.last()) {
            (true, Some(last)) => page::encode(&convert::OrderCursor {
                status: request.get_ref().status,
                before_created: last.row.created_at,
                before_id: last.row.id.clone(),
            }),
            _ => String::new(),
        };
        let ids: Vec<&str> = records.iter().map(|r| r.row.id.as_str()).collect();
        let lines = store::lines_of(&self.db, &ids).await?;
        Ok(Response::new(pb::ListOrdersResponse {
            orders: records.iter().map(|r| convert::order(r, &lines)).collect(),
            next_page_token,
        }))
    }

    type WatchOrderStream = WatchStream;

    async fn watch_order(&self, request: Request<pb::WatchOrderRequest>) -> Result<Response<WatchStream>, Status> {
        let caller = signed_in(&request)?;
        let id = convert::order_id_request(&request.get_ref().id)?;
        // Subscribe before the first read, so no change between the two is missed.
        let changes = self.changes.subscribe();
        let record = self.visible(&caller, &id).await?;
        let first = self.view(&record).await?;
        let state = Watch {
            db: self.db.clone(),
            id: id.to_string(),
            changes,
            first: Some(first),
            version: record.row.version,
            done: false,
            stop: self.stop.clone(),
        };
        Ok(Response::new(Box::pin(futures::stream::unfold(state, next_change))))
    }

    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        let caller = signed_in(&request)?;
        let (id, note) = convert::cancel_request(request.get_ref())?;
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let record = match store::lock(&txn, id.as_str()).await? {
            Some(record) if may_see(&caller, &record) => record,
            _ => return Err(Error::OrderNotFound(id.to_string()).into()),
        };
        if record.step.reason().is_some() {
            // Cancelling or cancelled already: unchanged.
            drop(txn);
            return Ok(Response::new(pb::CancelOrderResponse { order: Some(self.view(&record).await?) }));
        }
        let message = if note.is_empty() { "cancelled by the customer".to_string() } else { note };
        let detail = Detail { message, refunded_money: false };
        let outcome = saga::advance(&txn, &self.outbox, self.timing, record, Input::CancelRequested, detail).await?;
        // Committed even when refused: the refusal is in the order's log.
        self.outbox.commit(txn).await.map_err(Error::from)?;
        if let Advanced::Moved(_, Some(milestone)) = &outcome {
            self.metrics.reached(milestone);
        }
        match outcome {
            Advanced::Moved(saved, _) | Advanced::Ignored(saved) => {
                tracing::info!(order_id = %id, step = saved.step.as_str(), "order cancellation requested");
                Ok(Response::new(pb::CancelOrderResponse { order: Some(self.view(&saved).await?) }))
            }
            Advanced::Refused(why) => Err(Error::NotCancellable { id: id.to_string(), why }.into()),
        }
    }
}

struct Watch {
    db: DatabaseConnection,
    id: String,
    changes: broadcast::Receiver<pb::OrderStatusChanged>,
    first: Option<pb::Order>,
    /// The version of the last order sent.
    version: i64,
    done: bool,
    stop: Shutdown,
}

fn is_final(order: &pb::Order) -> bool {
    matches!(pb::OrderStatus::try_from(order.status), Ok(pb::OrderStatus::Confirmed | pb::OrderStatus::Cancelled))
}

/// The first order, then every newer status of it, until a final one.
async fn next_change(mut w: Watch) -> Option<(Result<pb::WatchOrderResponse, Status>, Watch)> {
    if w.done {
        return None;
    }
    if let Some(first) = w.first.take() {
        w.done = is_final(&first);
        return Some((Ok(pb::WatchOrderResponse { order: Some(first) }), w));
    }
    loop {
        let received = tokio::select! {
            () = w.stop.wait() => return None,
            received = w.changes.recv() => received,
        };
        let order = match received {
            Ok(change) => match change.order {
                Some(order) if order.id == w.id && change.version > w.version => {
                    w.version = change.version;
                    order
                }
                _ => continue,
            },
            // Fell behind: the database has the truth.
            Err(RecvError::Lagged(_)) => match store::get(&w.db, &w.id).await {
                Ok(Some(record)) if record.row.version > w.version => {
                    w.version = record.row.version;
                    match store::lines(&w.db, &w.id).await {
                        Ok(lines) => convert::order(&record, &lines),
                        Err(e) => return Some((Err(e.into()), Watch { done: true, ..w })),
                    }
                }
                Ok(_) => continue,
                Err(e) => return Some((Err(e.into()), Watch { done: true, ..w })),
            },
            Err(RecvError::Closed) => return None,
        };
        w.done = is_final(&order);
        return Some((Ok(pb::WatchOrderResponse { order: Some(order) }), w));
    }
}
