//! Answers read from storage, kept in memory only while storage is
//! unchanged: each entry belongs to the storage's change stamp
//! ([`GrantStore::data_version`](crate::storage::GrantStore::data_version))
//! read before the answer was looked up, and any change to anything stored,
//! by this instance or another sharing the database, moves the stamp and
//! empties the cache. So a cached answer is exactly what storage would say
//! now; the hot paths (introspection's revocation checks, a resource
//! server's client record) skip the storage round trip while nothing
//! changes, and a revocation or a changed secret is seen on the next call.

use std::collections::HashMap;
use std::hash::Hash;

use parking_lot::Mutex;

/// Entries kept at most; past it the cache starts over (it refills from
/// storage on the next calls).
const MAX_ENTRIES: usize = 50_000;

/// A map valid for one change stamp of storage.
pub(crate) struct StampCache<K, V> {
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    /// The stamp the entries belong to.
    stamp: u64,
    entries: HashMap<K, V>,
}

impl<K: Eq + Hash, V: Clone> StampCache<K, V> {
    /// An empty cache.
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                stamp: 0,
                entries: HashMap::new(),
            }),
        }
    }

    /// The value of `key` if it was stored at `stamp`, the stamp read just
    /// now (`None`: storage cannot tell, nothing is cached).
    pub(crate) fn get<Q>(&self, stamp: Option<u64>, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let stamp = stamp?;
        let inner = self.inner.lock();
        if inner.stamp != stamp {
            return None;
        }
        inner.entries.get(key).cloned()
    }

    /// Keeps `value`, which storage gave for `key` after `stamp` was read.
    /// A newer stamp empties the cache; an answer older than the cache's
    /// stamp is not kept (it may already be out of date).
    pub(crate) fn insert(&self, stamp: Option<u64>, key: K, value: V) {
        let Some(stamp) = stamp else {
            return;
        };
        let mut inner = self.inner.lock();
        if stamp < inner.stamp {
            return;
        }
        if stamp > inner.stamp || inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
            inner.stamp = stamp;
        }
        inner.entries.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_lives_only_while_the_stamp_stays() {
        let cache = StampCache::<String, bool>::new();
        cache.insert(Some(7), "a".into(), true);
        assert_eq!(cache.get(Some(7), "a"), Some(true));
        assert_eq!(cache.get(Some(8), "a"), None, "storage changed");
        // An answer looked up before the cache's stamp is not kept.
        cache.insert(Some(9), "b".into(), true);
        cache.insert(Some(8), "a".into(), true);
        assert_eq!(cache.get(Some(9), "a"), None);
        assert_eq!(cache.get(Some(9), "b"), Some(true));
        // A newer stamp empties it.
        cache.insert(Some(10), "c".into(), false);
        assert_eq!(cache.get(Some(10), "b"), None);
        assert_eq!(cache.get(Some(10), "c"), Some(false));
    }

    #[test]
    fn nothing_is_cached_when_storage_cannot_tell() {
        let cache = StampCache::<String, bool>::new();
        cache.insert(None, "a".into(), true);
        assert_eq!(cache.get(None, "a"), None);
        assert_eq!(cache.get(Some(0), "a"), None);
    }
}
