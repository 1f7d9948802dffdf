//! A short-lived read cache for GetProduct and BatchGetProducts, the hottest reads (product
//! pages, checkout pricing).
//!
//! Entries live `TTL` at most and are dropped the moment this process changes the product or
//! its stock (the same notifications WatchStock uses), so a replica always reads its own
//! writes; another replica's writes show within `TTL`. Reservations never read from here: the
//! stock they check is the database's.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use crate::storage::products::ProductRecord;

const TTL: Duration = Duration::from_secs(1);
/// Bound on memory; past it the cache starts over (simple, and rare with a 1 s TTL).
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Default)]
pub struct ProductCache(Arc<RwLock<HashMap<String, (Instant, ProductRecord)>>>);

/// How many entries, not the entries: up to `MAX_ENTRIES` products.
impl fmt::Debug for ProductCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_read`: a Debug call must never block on (or deadlock with) a writer.
        f.debug_struct("ProductCache").field("entries", &self.0.try_read().ok().map(|e| e.len())).finish()
    }
}

impl ProductCache {
    pub fn get(&self, id: &str) -> Option<ProductRecord> {
        let entries = self.0.read().ok()?;
        let (at, record) = entries.get(id)?;
        (at.elapsed() < TTL).then(|| record.clone())
    }

    pub fn put(&self, record: &ProductRecord) {
        if let Ok(mut entries) = self.0.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(record.product.id.clone(), (Instant::now(), record.clone()));
        }
    }

    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.0.write() {
            entries.remove(id);
        }
    }
}
