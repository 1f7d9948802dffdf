//! The read cache of GetProduct and BatchGetProducts, the hottest reads (product pages,
//! checkout pricing).
//!
//! A product is dropped the moment this process changes it or its stock (the same notifications
//! WatchStock uses), so a replica always reads its own writes; another replica's writes drop it
//! as soon as their events arrive (every replica follows catalog's stream, resuming after the
//! last event it saw, so an event delayed by an outage still arrives). Entries live `CACHE_TTL`
//! at most: the bound on staleness while NATS is unreachable and the other replicas' events
//! cannot arrive. Reservations never read from here: the stock they check is the database's.
//!
//! A read that misses takes a [`Ticket`] before it goes to the database and hands it back with
//! what it read: if any product was dropped meanwhile, the read may predate that change, and it
//! is not cached (the next read goes to the database again). Without that, a read racing an
//! update could put the old product back just after its event dropped it, for a whole TTL.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use crate::storage::products::ProductRecord;

#[derive(Clone)]
pub struct ProductCache {
    inner: Arc<RwLock<Entries>>,
    ttl: Duration,
    max_entries: usize,
}

#[derive(Default)]
struct Entries {
    by_id: HashMap<String, (Instant, ProductRecord)>,
    /// Bumped by every drop; a miss's ticket is the value it saw before reading.
    generation: u64,
}

/// What a miss saw before it read the database; see the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// How many entries, not the entries.
impl fmt::Debug for ProductCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_read`: a Debug call must never block on (or deadlock with) a writer.
        f.debug_struct("ProductCache")
            .field("entries", &self.inner.try_read().ok().map(|e| e.by_id.len()))
            .field("ttl", &self.ttl)
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl ProductCache {
    /// A TTL of zero caches nothing.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self { inner: Arc::default(), ttl, max_entries: max_entries.max(1) }
    }

    /// The cached product, unless it has lived its TTL.
    pub fn get(&self, id: &str) -> Option<ProductRecord> {
        let entries = self.inner.read().ok()?;
        let (at, record) = entries.by_id.get(id)?;
        (at.elapsed() < self.ttl).then(|| record.clone())
    }

    /// To be taken before reading what will be [`put`](Self::put).
    pub fn ticket(&self) -> Ticket {
        Ticket(self.inner.read().map_or(u64::MAX, |e| e.generation))
    }

    /// Caches `records`, read after `ticket` was taken, unless a product was dropped since.
    pub fn put<'a>(&self, ticket: Ticket, records: impl IntoIterator<Item = &'a ProductRecord>) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.inner.write() else { return };
        if entries.generation != ticket.0 {
            return;
        }
        let now = Instant::now();
        for record in records {
            if entries.by_id.len() >= self.max_entries {
                entries.make_room(self.max_entries, self.ttl, now);
            }
            entries.by_id.insert(record.product.id.clone(), (now, record.clone()));
        }
    }

    /// Drops the product (it changed), and refuses the puts of reads that were under way.
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.inner.write() {
            entries.generation = entries.generation.wrapping_add(1);
            entries.by_id.remove(id);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.read().map_or(0, |e| e.by_id.len())
    }
}

impl Entries {
    /// Expired entries go first; if that is not enough, arbitrary ones down to 7/8 of the
    /// bound, so a full cache pays for this once per `max / 8` inserts, not on every one.
    fn make_room(&mut self, max_entries: usize, ttl: Duration, now: Instant) {
        self.by_id.retain(|_, (at, _)| now.duration_since(*at) < ttl);
        let keep = (max_entries - max_entries / 8).min(max_entries - 1);
        if self.by_id.len() >= max_entries {
            let excess: Vec<String> = self.by_id.keys().take(self.by_id.len() - keep).cloned().collect();
            for id in excess {
                self.by_id.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::storage::entity::product;

    fn record(id: &str) -> ProductRecord {
        let now = Utc::now();
        ProductRecord {
            product: product::Model {
                id: id.to_string(),
                sku: format!("SKU-{id}"),
                name: format!("Product {id}"),
                description: String::new(),
                price_currency: "USD".to_string(),
                price_units: 1,
                price_nanos: 0,
                image_url: String::new(),
                created_at: now,
                updated_at: now,
            },
            category_ids: Vec::new(),
            on_hand: 1,
            reserved: 0,
        }
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_cached() {
        let cache = ProductCache::new(Duration::from_secs(60), 100);
        let ticket = cache.ticket();
        // The product changes (its event arrives) while the miss is reading the database.
        cache.forget("p1");
        cache.put(ticket, [&record("p1")]);
        assert!(cache.get("p1").is_none(), "the read may predate the change");
        let ticket = cache.ticket();
        cache.put(ticket, [&record("p1")]);
        assert!(cache.get("p1").is_some());
    }

    #[test]
    fn a_forgotten_product_is_read_again() {
        let cache = ProductCache::new(Duration::from_secs(60), 100);
        cache.put(cache.ticket(), [&record("p1"), &record("p2")]);
        cache.forget("p1");
        assert!(cache.get("p1").is_none());
        assert!(cache.get("p2").is_some(), "only the changed product is dropped");
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_caches_nothing() {
        let cache = ProductCache::new(Duration::ZERO, 100);
        cache.put(cache.ticket(), [&record("p1")]);
        assert!(cache.get("p1").is_none());
        assert_eq!(cache.len(), 0);
        let cache = ProductCache::new(Duration::from_millis(1), 100);
        cache.put(cache.ticket(), [&record("p1")]);
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get("p1").is_none(), "an entry older than the TTL is not served");
    }

    #[test]
    fn the_bound_holds_and_recent_entries_survive_eviction() {
        let cache = ProductCache::new(Duration::from_secs(60), 64);
        for i in 0..1_000 {
            cache.put(cache.ticket(), [&record(&format!("p{i}"))]);
            assert!(cache.len() <= 64, "{} entries after {i} puts", cache.len());
        }
        assert!(cache.get("p999").is_some(), "the latest put is cached");
        assert!(cache.len() >= 56 - 1, "eviction stops near 7/8 of the bound, not at empty: {}", cache.len());
    }
}
