//! In-memory storage: the upstream token vault ([`VaultStore`]).

use async_trait::async_trait;

use super::MemoryStorage;
use crate::storage::vault::fresh_version;
use crate::storage::{StorageError, UpstreamTokenRecord, VaultStore};

#[async_trait]
impl VaultStore for MemoryStorage {
    async fn put_upstream_token(
        &self,
        mut record: UpstreamTokenRecord,
    ) -> Result<u64, StorageError> {
        let mut g = self.inner.lock();
        let key = (record.subject.clone(), record.provider.clone());
        record.version = fresh_version(g.vault.get(&key).map(|r| r.version))?;
        let version = record.version;
        g.vault.insert(key, record);
        Ok(version)
    }

    async fn upstream_token(
        &self,
        subject: &str,
        provider: &str,
    ) -> Result<Option<UpstreamTokenRecord>, StorageError> {
        let key = (subject.to_owned(), provider.to_owned());
        Ok(self.inner.lock().vault.get(&key).cloned())
    }

    async fn replace_upstream_token(
        &self,
        record: UpstreamTokenRecord,
        expected: u64,
    ) -> Result<Option<u64>, StorageError> {
        let mut g = self.inner.lock();
        let key = (record.subject.clone(), record.provider.clone());
        match g.vault.get_mut(&key) {
            Some(stored) if stored.version == expected => {
                stored.sealed = record.sealed;
                stored.updated_at = record.updated_at;
                stored.version = fresh_version(Some(expected))?;
                Ok(Some(stored.version))
            }
            _ => Ok(None),
        }
    }

    async fn delete_upstream_token(
        &self,
        subject: &str,
        provider: &str,
        expected: u64,
    ) -> Result<bool, StorageError> {
        let mut g = self.inner.lock();
        let key = (subject.to_owned(), provider.to_owned());
        if g.vault.get(&key).is_some_and(|r| r.version == expected) {
            g.vault.remove(&key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn retain_upstream_tokens(&self, keep: &[String]) -> Result<u64, StorageError> {
        let mut g = self.inner.lock();
        let before = g.vault.len();
        g.vault.retain(|(_, p), _| keep.contains(p));
        Ok((before - g.vault.len()) as u64)
    }
}
