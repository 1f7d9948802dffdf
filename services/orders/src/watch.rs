//! WatchOrder's source: every status change of every order, as this replica learns of it from
//! the ORDERS stream (so changes made on other replicas arrive too, and only once committed).
//! Each change carries the order's version; a watcher passes on only versions newer than the
//! last it sent, so a change it already read from the database is not sent twice.

use std::fmt;

use mercato::orders::v1 as pb;
use tokio::sync::broadcast;

/// Changes buffered per watcher before it lags (and then rereads the order).
const CAPACITY: usize = 4096;

/// See the module docs. Cheap to clone.
#[derive(Clone)]
pub struct Changes(broadcast::Sender<pb::OrderStatusChanged>);

impl fmt::Debug for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changes").field("watchers", &self.0.receiver_count()).finish()
    }
}

impl Default for Changes {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl Changes {
    pub fn publish(&self, change: pb::OrderStatusChanged) {
        // No watcher is not an error.
        let _ = self.0.send(change);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<pb::OrderStatusChanged> {
        self.0.subscribe()
    }
}
