//! Tokens already verified, remembered until they expire.
//!
//! A signed-in request is verified at the gateway and again by every service it reaches
//! (each forwards the user's token), and a shopper sends the same token for many minutes: an
//! EdDSA verification costs 60–100 µs, repeated on every hop of every call. This keeps what a
//! verification concluded, keyed by the SHA-256 of the whole token, so any token that differs
//! by one byte (another signature, a tampered claim) is a miss and is verified afresh. An
//! entry is refused as expired from the same instant a fresh verification would refuse it
//! (`exp` plus the leeway), and the map is bounded.

use std::{collections::HashMap, sync::Mutex};

use sha2::{Digest, Sha256};

use super::caller::Caller;

type Key = [u8; 32];

struct Entry {
    caller: Caller,
    /// The last second (Unix time) at which a fresh verification still accepts the token.
    valid_until: u64,
}

/// What a lookup found.
#[derive(Debug)]
pub(super) enum Cached {
    Valid(Caller),
    /// Verified once, now past its expiry: refused as a fresh verification would refuse it.
    Expired,
    Miss,
}

pub(super) struct TokenCache {
    entries: Mutex<HashMap<Key, Entry>>,
    capacity: usize,
}

impl TokenCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::with_capacity(capacity.min(1024))), capacity }
    }

    pub(super) fn get(&self, token: &str, now: u64) -> Cached {
        if self.capacity == 0 {
            return Cached::Miss;
        }
        let key = key(token);
        let Ok(mut entries) = self.entries.lock() else {
            return Cached::Miss;
        };
        match entries.get(&key) {
            None => Cached::Miss,
            Some(entry) if now <= entry.valid_until => Cached::Valid(entry.caller.clone()),
            Some(_) => {
                entries.remove(&key);
                Cached::Expired
            }
        }
    }

    /// Remembers `caller`, verified from `token`, until `valid_until` (Unix seconds).
    pub(super) fn insert(&self, token: &str, caller: &Caller, valid_until: u64, now: u64) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            make_room(&mut entries, self.capacity, now);
        }
        entries.insert(key(token), Entry { caller: caller.clone(), valid_until });
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }
}

fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

/// Drops the expired entries and, if that frees less than an eighth of the room, arbitrary
/// others (the map's order is its hasher's, so no caller can choose which) down to seven
/// eighths: the scan is paid once per `capacity / 8` insertions, not on each.
fn make_room(entries: &mut HashMap<Key, Entry>, capacity: usize, now: u64) {
    entries.retain(|_, entry| now <= entry.valid_until);
    let keep = capacity - capacity.div_ceil(8);
    if entries.len() > keep {
        let excess: Vec<Key> = entries.keys().take(entries.len() - keep).copied().collect();
        for key in excess {
            entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{auth::CallerKind, secret::Secret};

    fn caller(token: &str) -> Caller {
        Caller {
            subject: "user-1".into(),
            email: String::new(),
            roles: vec![],
            kind: CallerKind::User,
            token: Secret::new(token.to_string()),
        }
    }

    #[test]
    fn an_entry_is_valid_through_its_last_second_and_expired_after_it() {
        let cache = TokenCache::new(16);
        cache.insert("t", &caller("t"), 1_000, 900);
        assert!(matches!(cache.get("t", 999), Cached::Valid(_)));
        assert!(matches!(cache.get("t", 1_000), Cached::Valid(_)));
        assert!(matches!(cache.get("t", 1_001), Cached::Expired));
        // Refused once, forgotten: the next lookup goes to a fresh verification.
        assert!(matches!(cache.get("t", 1_001), Cached::Miss));
    }

    #[test]
    fn the_bound_holds_and_expired_entries_go_first() {
        let cache = TokenCache::new(64);
        for i in 0..32 {
            cache.insert(&format!("old-{i}"), &caller("old"), 10, 0);
        }
        for i in 0..1_000 {
            cache.insert(&format!("new-{i}"), &caller("new"), 1_000, 20);
            assert!(cache.len() <= 64, "{} entries after {i}", cache.len());
        }
        assert!((0..32).all(|i| matches!(cache.get(&format!("old-{i}"), 20), Cached::Miss)));
        assert!(matches!(cache.get("new-999", 20), Cached::Valid(_)), "the newest entry is kept");
    }

    #[test]
    fn a_capacity_of_zero_caches_nothing() {
        let cache = TokenCache::new(0);
        cache.insert("t", &caller("t"), 1_000, 0);
        assert!(matches!(cache.get("t", 0), Cached::Miss));
        assert_eq!(cache.len(), 0);
    }
}
