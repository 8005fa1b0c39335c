//! Bounded in-memory caches with a lifetime per entry (moka): what the
//! server verified once (access tokens it issued, session cookies) is kept
//! until it expires, within a budget of bytes. Eviction is the cache's
//! (TinyLFU admission, LRU eviction, a timer wheel for expiries), so no
//! insert ever walks the whole map, and a stranger who fills it only evicts.

use std::time::{Duration, Instant};

use moka::Expiry;

#[derive(Clone)]
struct Entry<V> {
    value: V,
    ttl: Duration,
    weight: u32,
}

struct PerEntry;

impl<V> Expiry<String, Entry<V>> for PerEntry {
    fn expire_after_create(&self, _: &String, e: &Entry<V>, _: Instant) -> Option<Duration> {
        Some(e.ttl)
    }
}

/// Bytes an entry costs beyond its contents (node, key and value headers).
const ENTRY_OVERHEAD: usize = 160;

/// A bounded cache from a key (a token's digest) to a value kept for its
/// own lifetime.
pub(crate) struct Expiring<V> {
    cache: moka::sync::Cache<String, Entry<V>>,
}

impl<V: Clone + Send + Sync + 'static> Expiring<V> {
    /// A cache holding at most about `max_bytes`.
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_: &String, e: &Entry<V>| e.weight)
                .expire_after(PerEntry)
                .build(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<V> {
        self.cache.get(key).map(|e| e.value)
    }

    /// Keeps `value` (about `bytes` big) until `expires_at` (seconds since
    /// the epoch), counted from `now`; not at all when that has passed.
    pub(crate) fn insert(&self, key: String, value: V, bytes: usize, expires_at: u64, now: u64) {
        let Some(left) = expires_at.checked_sub(now).filter(|s| *s > 0) else {
            return;
        };
        let weight = u32::try_from(ENTRY_OVERHEAD + key.len() + bytes).unwrap_or(u32::MAX);
        self.cache.insert(
            key,
            Entry {
                value,
                ttl: Duration::from_secs(left),
                weight,
            },
        );
    }

    /// Entries and their estimated bytes (after pending evictions).
    pub(crate) fn size(&self) -> (u64, u64) {
        self.cache.run_pending_tasks();
        (self.cache.entry_count(), self.cache.weighted_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_bytes_and_expiring() {
        let c = Expiring::new(100_000);
        for i in 0..10_000 {
            c.insert(format!("key-{i}"), i, 1_000, 100, 0);
        }
        let (_, bytes) = c.size();
        assert!(bytes <= 100_000, "{bytes}");
        c.insert("gone".into(), 1, 10, 5, 5);
        assert_eq!(c.get("gone"), None, "already expired");
    }
}
