//! A bounded map whose entries expire; keyed by token hashes.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Entries live until their own deadline; when the map is full, expired
/// entries are swept, and if it is still full the new entry is not kept
/// (the caller simply does the work again next time).
#[derive(Debug)]
pub(crate) struct TtlCache<V> {
    map: Mutex<HashMap<String, (V, u64)>>,
    capacity: usize,
}

impl<V: Clone> TtlCache<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The live value for `key` at time `now`.
    pub(crate) fn get(&self, key: &str, now: u64) -> Option<V> {
        let map = self.map.lock();
        map.get(key)
            .filter(|(_, until)| *until > now)
            .map(|(v, _)| v.clone())
    }

    /// Keeps `value` until `until`.
    pub(crate) fn insert(&self, key: String, value: V, until: u64, now: u64) {
        if until <= now || self.capacity == 0 {
            return;
        }
        let mut map = self.map.lock();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, (_, u)| *u > now);
            if map.len() >= self.capacity {
                return;
            }
        }
        map.insert(key, (value, until));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
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
    }
}
