//! In-memory storage: clients and consents ([`ClientStore`]).

use async_trait::async_trait;

use super::MemoryStorage;
use crate::storage::{ClientRecord, ClientStore, StorageError};

#[async_trait]
impl ClientStore for MemoryStorage {
    async fn insert_client(&self, client: ClientRecord) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        if g.clients.contains_key(&client.client_id) {
            return Err(StorageError::Conflict);
        }
        if !client.policy.trusted {
            g.unused_clients.insert(client.client_id.clone());
        }
        g.clients.insert(client.client_id.clone(), client);
        Ok(())
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StorageError> {
        Ok(self.inner.lock().clients.get(client_id).cloned())
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StorageError> {
        let mut g = self.inner.lock();
        g.consents.retain(|(_, c, _), _| c != client_id);
        g.unused_clients.remove(client_id);
        Ok(g.clients.remove(client_id).is_some())
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StorageError> {
        let mut v: Vec<_> = self.inner.lock().clients.values().cloned().collect();
        v.sort_by_key(|c| c.issued_at);
        Ok(v)
    }

    async fn client_count(&self) -> Result<usize, StorageError> {
        Ok(self.inner.lock().clients.len())
    }

    async fn update_client(&self, client: ClientRecord) -> Result<bool, StorageError> {
        let mut g = self.inner.lock();
        if client.policy.trusted {
            g.unused_clients.remove(&client.client_id);
        }
        match g.clients.get_mut(&client.client_id) {
            Some(slot) => {
                *slot = ClientRecord {
                    last_used_at: slot.last_used_at,
                    ..client
                };
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn purge_unused_clients(
        &self,
        issued_before: u64,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let mut g = self.inner.lock();
        let mut stale: Vec<(u64, String)> = g
            .unused_clients
            .iter()
            .filter_map(|id| g.clients.get(id))
            .filter(|c| c.issued_at < issued_before)
            .map(|c| (c.issued_at, c.client_id.clone()))
            .collect();
        stale.sort();
        stale.truncate(limit);
        for (_, id) in &stale {
            g.unused_clients.remove(id);
            g.clients.remove(id);
        }
        Ok(stale.len())
    }

    async fn touch_client(
        &self,
        client_id: &str,
        now: u64,
        every: u64,
    ) -> Result<bool, StorageError> {
        let mut g = self.inner.lock();
        match g.clients.get_mut(client_id) {
            Some(c)
                if c.last_used_at
                    .is_none_or(|t| t <= now.saturating_sub(every)) =>
            {
                c.last_used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn reap_idle_clients(
        &self,
        idle_before: u64,
        now: u64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut g = self.inner.lock();
        let mut idle: Vec<(u64, String)> = g
            .clients
            .values()
            .filter(|c| !c.policy.trusted)
            .map(|c| (c.last_used_at.unwrap_or(c.issued_at), c.client_id.clone()))
            .filter(|(at, _)| *at < idle_before)
            .collect();
        idle.sort();
        idle.truncate(limit);
        let ids: Vec<String> = idle.into_iter().map(|(_, id)| id).collect();
        for ((_, c, _), (record, revoked_at)) in &mut g.grants {
            if ids.contains(c) && *revoked_at < record.granted_at {
                *revoked_at = now;
            }
        }
        g.consents.retain(|(_, c, _), _| !ids.contains(c));
        let families: Vec<String> = g
            .refresh
            .values()
            .filter(|t| ids.contains(&t.record.client_id))
            .map(|t| t.record.family_id.clone())
            .collect();
        g.revoked_families.extend(families);
        g.vault.retain(|_, v| !ids.contains(&v.client_id));
        for id in &ids {
            g.unused_clients.remove(id);
            g.clients.remove(id);
        }
        Ok(ids)
    }

    async fn consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<String>, StorageError> {
        Ok(self
            .inner
            .lock()
            .consents
            .get(&(
                subject.to_owned(),
                client_id.to_owned(),
                resource.to_owned(),
            ))
            .cloned())
    }

    async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        _now: u64,
    ) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        g.unused_clients.remove(client_id);
        g.consents.insert(
            (
                subject.to_owned(),
                client_id.to_owned(),
                resource.to_owned(),
            ),
            scope.to_owned(),
        );
        Ok(())
    }
}
