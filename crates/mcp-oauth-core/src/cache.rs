//! A bounded map whose entries expire, for caching verification results
//! by token hash (the verifier's verified-token and introspection caches,
//! the authorization server's cache of its own tokens).
//!
//! ```
//! use mcp_oauth_core::cache::TtlCache;
//!
//! let cache = TtlCache::new(1000);
//! cache.insert("k".into(), 42, 100, 0);   // valid until t=100
//! assert_eq!(cache.get("k", 99), Some(42));
//! assert_eq!(cache.get("k", 100), None);
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries live until their own deadline; when the map is full, expired
/// entries are swept, and if it is still full the new entry is not kept
/// (the caller simply does the work again next time).
#[derive(Debug)]
pub struct TtlCache<V> {
    map: Mutex<HashMap<String, (V, u64)>>,
    capacity: usize,
}

impl<V: Clone> TtlCache<V> {
    /// A cache of at most `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (V, u64)>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (single insert/lookup), so a poisoned lock is still usable.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live value for `key` at time `now`.
    pub fn get(&self, key: &str, now: u64) -> Option<V> {
        self.lock()
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(v, _)| v.clone())
    }

    /// Keeps `value` until `until`.
    pub fn insert(&self, key: String, value: V, until: u64, now: u64) {
        if until <= now || self.capacity == 0 {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, (_, u)| *u > now);
            if map.len() >= self.capacity {
                return;
            }
        }
        map.insert(key, (value, until));
    }

    /// Drops `key`.
    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Number of entries (live or not yet swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_bounds() {
        let c = TtlCache::new(2);
        c.insert("a".into(), 1, 10, 0);
        c.insert("b".into(), 2, 5, 0);
        assert_eq!(c.get("a", 9), Some(1));
        assert_eq!(c.get("a", 10), None);
        c.insert("c".into(), 3, 10, 1); // full, nothing expired: dropped
        assert_eq!(c.get("c", 1), None);
        c.insert("c".into(), 3, 10, 6); // "b" expired at 5: swept
        assert_eq!(c.get("c", 6), Some(3));
        assert_eq!(c.len(), 2);
        c.insert("d".into(), 4, 3, 4); // already dead: ignored
        assert_eq!(c.get("d", 4), None);
        c.remove("c");
        assert_eq!(c.get("c", 6), None);
        assert!(!c.is_empty());
    }
}
