//! In-memory storage: windowed counters ([`CounterStore`]).

use async_trait::async_trait;

use super::MemoryStorage;
use crate::storage::{CounterStore, StorageError};

#[async_trait]
impl CounterStore for MemoryStorage {
    async fn bump_counter(
        &self,
        key: &str,
        now: u64,
        window: u64,
    ) -> Result<(u32, u64), StorageError> {
        let mut g = self.inner.lock();
        let entry = g.counters.entry(key.to_owned()).or_insert((0, now));
        if entry.1.saturating_add(window) <= now {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
        Ok(*entry)
    }

    async fn counter(&self, key: &str) -> Result<Option<(u32, u64)>, StorageError> {
        Ok(self.inner.lock().counters.get(key).copied())
    }

    async fn release_counter(&self, key: &str) -> Result<(), StorageError> {
        if let Some(entry) = self.inner.lock().counters.get_mut(key) {
            entry.0 = entry.0.saturating_sub(1);
        }
        Ok(())
    }

    async fn clear_counter(&self, key: &str) -> Result<(), StorageError> {
        self.inner.lock().counters.remove(key);
        Ok(())
    }

    async fn purge_counters(&self, now: u64, max_age: u64) -> Result<(), StorageError> {
        self.inner
            .lock()
            .counters
            .retain(|_, (_, start)| start.saturating_add(max_age) > now);
        Ok(())
    }
}
