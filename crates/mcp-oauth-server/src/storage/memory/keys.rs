//! In-memory storage: signing keys ([`KeyStore`]).

use async_trait::async_trait;

use super::MemoryStorage;
use crate::storage::{KeyStore, SigningKeyRecord, StorageError};

#[async_trait]
impl KeyStore for MemoryStorage {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StorageError> {
        let mut v = self.inner.lock().keys.clone();
        // Newest first; keys created in the same second in the reverse of
        // their insertion, as the SQL backends break ties (rowid, seq).
        v.reverse();
        v.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok(v)
    }

    async fn add_signing_key(
        &self,
        key: SigningKeyRecord,
        replaces: &str,
    ) -> Result<bool, StorageError> {
        let mut g = self.inner.lock();
        let Some(newest) = g
            .keys
            .iter_mut()
            .find(|k| k.retired_at.is_none() && k.kid == replaces)
        else {
            return Ok(false);
        };
        newest.retired_at = Some(key.activates_at);
        g.keys.push(key);
        Ok(true)
    }

    async fn add_first_signing_key(&self, key: SigningKeyRecord) -> Result<bool, StorageError> {
        let mut g = self.inner.lock();
        if g.keys.iter().any(|k| k.retired_at.is_none()) {
            return Ok(false);
        }
        g.keys.push(key);
        Ok(true)
    }

    async fn delete_retired_key(&self, kid: &str) -> Result<bool, StorageError> {
        let mut g = self.inner.lock();
        let before = g.keys.len();
        g.keys.retain(|k| k.kid != kid || k.retired_at.is_none());
        Ok(g.keys.len() < before)
    }
}
