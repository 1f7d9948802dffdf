//! Stock-change notifications inside one catalog process, for WatchStock streams.
//!
//! A notification carries only the product id; watchers reread the level, so a lagging watcher
//! that misses notifications still converges on the true level. Scope: one replica. Watchers
//! on other replicas learn of changes when the events issue publishes stock events on NATS.

use tokio::sync::broadcast;

/// Buffered notifications per watcher before it lags (and then simply rereads).
const CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct StockFeed(broadcast::Sender<String>);

impl Default for StockFeed {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl StockFeed {
    pub fn changed<'a>(&self, product_ids: impl IntoIterator<Item = &'a str>) {
        for id in product_ids {
            // No watcher is not an error.
            let _ = self.0.send(id.to_string());
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.0.subscribe()
    }
}
