//! In-memory storage: users and federated identities ([`UserStore`]).

use async_trait::async_trait;

use super::MemoryStorage;
use crate::storage::{IdentityRecord, StorageError, UserRecord, UserStore};

#[async_trait]
impl UserStore for MemoryStorage {
    async fn upsert_user(&self, user: UserRecord) -> Result<(), StorageError> {
        self.inner.lock().users.insert(user.username.clone(), user);
        Ok(())
    }

    async fn insert_user(&self, user: UserRecord) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        if g.users.contains_key(&user.username) {
            return Err(StorageError::Conflict);
        }
        g.users.insert(user.username.clone(), user);
        Ok(())
    }

    async fn update_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StorageError> {
        Ok(match self.inner.lock().users.get_mut(username) {
            Some(u) => {
                u.password_hash = password_hash.to_owned();
                true
            }
            None => false,
        })
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StorageError> {
        Ok(self.inner.lock().users.get(username).cloned())
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StorageError> {
        Ok(self.inner.lock().users.remove(username).is_some())
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StorageError> {
        let mut v: Vec<_> = self.inner.lock().users.values().cloned().collect();
        v.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(v)
    }

    async fn save_identity(&self, identity: IdentityRecord) -> Result<(), StorageError> {
        self.inner
            .lock()
            .identities
            .insert(identity.subject.clone(), identity);
        Ok(())
    }

    async fn identity(&self, subject: &str) -> Result<Option<IdentityRecord>, StorageError> {
        Ok(self.inner.lock().identities.get(subject).cloned())
    }
}
