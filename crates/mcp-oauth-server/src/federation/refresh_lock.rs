//! One refresh at a time per (subject, provider) inside one instance, so
//! this instance never presents a person's upstream refresh token twice
//! (a provider rotating refresh tokens refuses the second presentation,
//! and some revoke the whole family when they see it). Instances sharing
//! storage still race; the vault's compare-and-set and the re-read after a
//! refused refresh settle that.
//!
//! The locks live in a small map whose entries go when nobody holds or
//! awaits them (on release, and swept at each lock for waits that were
//! cancelled); past [`MAX_ENTRIES`] concurrent refreshes a caller goes
//! without a lock rather than waiting for a slot.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// How many (subject, provider) pairs may be refreshing at once before
/// further callers go without a lock.
pub(crate) const MAX_ENTRIES: usize = 1024;

type Key = (String, String);

/// The per-(subject, provider) refresh locks of one instance.
#[derive(Default)]
pub(crate) struct RefreshLocks {
    entries: Mutex<HashMap<Key, Arc<AsyncMutex<()>>>>,
}

/// A held refresh lock; dropping it releases the lock and forgets the
/// entry when nobody else holds or awaits it.
pub(crate) struct RefreshGuard<'a> {
    locks: &'a RefreshLocks,
    key: Key,
    guard: Option<OwnedMutexGuard<()>>,
}

impl RefreshLocks {
    /// Waits for the lock of (`subject`, `provider`); `None` when the map
    /// is full (the caller goes on unlocked).
    pub(crate) async fn lock(&self, subject: &str, provider: &str) -> Option<RefreshGuard<'_>> {
        let key = (subject.to_owned(), provider.to_owned());
        let entry = {
            let mut entries = self.entries.lock();
            // Entries only the map holds are unused (a cancelled wait can
            // leave one behind).
            entries.retain(|_, e| Arc::strong_count(e) > 1);
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
                return None;
            }
            entries.entry(key.clone()).or_default().clone()
        };
        let guard = entry.lock_owned().await;
        Some(RefreshGuard {
            locks: self,
            key,
            guard: Some(guard),
        })
    }

    /// How many entries the map holds (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

impl Drop for RefreshGuard<'_> {
    fn drop(&mut self) {
        // Release first, then look: every clone of the entry is made under
        // the map's lock, so a count of one (the map's) under it means
        // nobody holds or awaits this lock.
        drop(self.guard.take());
        let mut entries = self.locks.entries.lock();
        if entries
            .get(&self.key)
            .is_some_and(|e| Arc::strong_count(e) == 1)
        {
            entries.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_pair_and_entries_go_when_unused() {
        let locks = RefreshLocks::default();
        let a = locks.lock("s:1", "gh").await.unwrap();
        // Another pair is not held up.
        let b = locks.lock("s:2", "gh").await.unwrap();
        assert_eq!(locks.len(), 2);
        // The same pair waits until the first is released.
        let waiting = locks.lock("s:1", "gh");
        tokio::pin!(waiting);
        assert!(futures_util::poll!(&mut waiting).is_pending());
        drop(a);
        let again = waiting.await.unwrap();
        assert_eq!(locks.len(), 2, "still held");
        drop(again);
        drop(b);
        assert_eq!(locks.len(), 0, "nothing left behind");
        // A cancelled wait leaves nothing behind either.
        let held = locks.lock("s:3", "gh").await.unwrap();
        {
            let waiting = locks.lock("s:3", "gh");
            tokio::pin!(waiting);
            assert!(futures_util::poll!(&mut waiting).is_pending());
        }
        drop(held);
        let _other = locks.lock("s:4", "gh").await.unwrap();
        assert_eq!(locks.len(), 1, "swept");
    }

    #[tokio::test]
    async fn a_full_map_lets_callers_go_unlocked() {
        let locks = RefreshLocks::default();
        let mut held = Vec::new();
        for n in 0..MAX_ENTRIES {
            held.push(locks.lock(&format!("s:{n}"), "gh").await.unwrap());
        }
        assert!(locks.lock("s:new", "gh").await.is_none());
        drop(held);
        assert_eq!(locks.len(), 0);
        assert!(locks.lock("s:new", "gh").await.is_some());
    }
}
