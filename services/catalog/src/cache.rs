//! A short-lived read cache for GetProduct and BatchGetProducts, the hottest reads (product
//! pages, checkout pricing).
//!
//! Entries live `CACHE_TTL` at most and are dropped the moment this process changes the
//! product or its stock (the same notifications WatchStock uses), so a replica always reads
//! its own writes; another replica's writes drop them as soon as their events arrive (the
//! stream catalog follows), and within `CACHE_TTL` if NATS is unreachable. Reservations never
//! read from here: the stock they check is the database's.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use crate::storage::products::ProductRecord;

/// Bound on memory; past it the cache starts over (simple, and rare with a short TTL).
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone)]
pub struct ProductCache {
    entries: Arc<RwLock<HashMap<String, (Instant, ProductRecord)>>>,
    ttl: Duration,
}

/// How many entries, not the entries: up to `MAX_ENTRIES` products.
impl fmt::Debug for ProductCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_read`: a Debug call must never block on (or deadlock with) a writer.
        f.debug_struct("ProductCache")
            .field("entries", &self.entries.try_read().ok().map(|e| e.len()))
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl ProductCache {
    pub fn new(ttl: Duration) -> Self {
        Self { entries: Arc::default(), ttl }
    }

    pub fn get(&self, id: &str) -> Option<ProductRecord> {
        let entries = self.entries.read().ok()?;
        let (at, record) = entries.get(id)?;
        (at.elapsed() < self.ttl).then(|| record.clone())
    }

    pub fn put(&self, record: &ProductRecord) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(record.product.id.clone(), (Instant::now(), record.clone()));
        }
    }

    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(id);
        }
    }
}
