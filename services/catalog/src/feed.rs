//! Product and stock-change notifications inside one catalog process, for WatchStock streams
//! and the read cache.
//!
//! A notification carries only the product id; watchers reread the level, so a lagging watcher
//! that misses notifications still converges on the true level. Scope: one replica. Watchers
//! on other replicas learn of changes when the events issue publishes stock events on NATS.

use std::fmt;

use tokio::sync::broadcast;

use crate::cache::ProductCache;

/// Buffered notifications per watcher before it lags (and then simply rereads).
const CAPACITY: usize = 1024;

/// Also drops the changed products from the read cache, so this replica reads its own writes.
#[derive(Clone)]
pub struct StockFeed(broadcast::Sender<String>, ProductCache);

impl fmt::Debug for StockFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StockFeed").field("watchers", &self.0.receiver_count()).field("cache", &self.1).finish()
    }
}

impl StockFeed {
    pub fn new(cache: ProductCache) -> Self {
        Self(broadcast::channel(CAPACITY).0, cache)
    }

    pub fn changed<'a>(&self, product_ids: impl IntoIterator<Item = &'a str>) {
        for id in product_ids {
            self.1.forget(id);
            // No watcher is not an error.
            let _ = self.0.send(id.to_string());
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.0.subscribe()
    }
}
