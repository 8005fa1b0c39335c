//! In-memory storage: grants people approved and browser sessions
//! ([`AccountStore`]).

use async_trait::async_trait;

use super::{Inner, MemoryStorage};
use crate::storage::{AccountStore, Grant, GrantFilter, GrantRecord, SessionRecord, StorageError};

impl Inner {
    /// The live refresh families of one grant at `now`.
    fn live_families(&self, g: &GrantRecord, now: u64) -> u32 {
        let families: std::collections::HashSet<&str> = self
            .refresh
            .values()
            .map(|t| &t.record)
            .filter(|t| {
                t.subject == g.subject
                    && t.client_id == g.client_id
                    && t.resource.as_deref().unwrap_or_default() == g.resource
                    && t.rotated_at.is_none()
                    && t.expires_at > now
                    && !self.revoked_families.contains(&t.family_id)
            })
            .map(|t| t.family_id.as_str())
            .collect();
        u32::try_from(families.len()).unwrap_or(u32::MAX)
    }
}

#[async_trait]
impl AccountStore for MemoryStorage {
    async fn record_grant(&self, grant: GrantRecord) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        g.unused_clients.remove(&grant.client_id);
        let key = (
            grant.subject.clone(),
            grant.client_id.clone(),
            grant.resource.clone(),
        );
        let revoked_at = g.grants.get(&key).map_or(0, |(_, r)| *r);
        g.grants.insert(key, (grant, revoked_at));
        Ok(())
    }

    async fn grants(&self, filter: &GrantFilter, now: u64) -> Result<Vec<Grant>, StorageError> {
        let g = self.inner.lock();
        let mut out: Vec<Grant> = g
            .grants
            .iter()
            .filter(|((s, c, r), (record, revoked_at))| {
                filter.matches(s, c, r) && *revoked_at < record.granted_at
            })
            .map(|(key, (record, _))| Grant {
                record: record.clone(),
                remembered: g.consents.contains_key(key),
                live_refresh_families: g.live_families(record, now),
            })
            .collect();
        out.sort_by(|a, b| {
            (
                a.record.granted_at,
                &a.record.subject,
                &a.record.client_id,
                &a.record.resource,
            )
                .cmp(&(
                    b.record.granted_at,
                    &b.record.subject,
                    &b.record.client_id,
                    &b.record.resource,
                ))
        });
        Ok(out)
    }

    async fn revoke_grants(
        &self,
        filter: &GrantFilter,
        now: u64,
    ) -> Result<Vec<GrantRecord>, StorageError> {
        let mut g = self.inner.lock();
        let mut ended = Vec::new();
        for ((s, c, r), (record, revoked_at)) in &mut g.grants {
            if filter.matches(s, c, r) && *revoked_at < record.granted_at {
                *revoked_at = now;
                ended.push(record.clone());
            }
        }
        g.consents.retain(|(s, c, r), _| !filter.matches(s, c, r));
        let families: Vec<String> = g
            .refresh
            .values()
            .map(|t| &t.record)
            .filter(|t| {
                filter.matches(
                    &t.subject,
                    &t.client_id,
                    t.resource.as_deref().unwrap_or_default(),
                )
            })
            .map(|t| t.family_id.clone())
            .collect();
        g.revoked_families.extend(families);
        // The upstream tokens of a person's sign-in through a client end
        // with their grant to it.
        g.vault.retain(|_, v| {
            !ended
                .iter()
                .any(|e| e.subject == v.subject && e.client_id == v.client_id)
        });
        ended.sort_by_key(|r| r.granted_at);
        Ok(ended)
    }

    async fn grant_revoked_at(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<u64, StorageError> {
        let g = self.inner.lock();
        let at = |resource: &str| {
            let key = (
                subject.to_owned(),
                client_id.to_owned(),
                resource.to_owned(),
            );
            g.grants.get(&key).map_or(0, |(_, r)| *r)
        };
        Ok(at(resource).max(at("")))
    }

    async fn client_grant_revoked_at(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<u64, StorageError> {
        let g = self.inner.lock();
        Ok(g.grants
            .iter()
            .filter(|((s, c, _), _)| s == subject && c == client_id)
            .map(|(_, (_, revoked_at))| *revoked_at)
            .max()
            .unwrap_or(0))
    }

    async fn insert_session(&self, session: SessionRecord) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        if g.sessions.contains_key(&session.id_hash) {
            return Err(StorageError::Conflict);
        }
        g.sessions.insert(session.id_hash.clone(), session);
        Ok(())
    }

    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StorageError> {
        Ok(self.inner.lock().sessions.get(id_hash).cloned())
    }

    async fn sessions(&self, subject: &str, now: u64) -> Result<Vec<SessionRecord>, StorageError> {
        let mut v: Vec<SessionRecord> = self
            .inner
            .lock()
            .sessions
            .values()
            .filter(|s| s.subject == subject && s.expires_at > now)
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.auth_time, &a.id_hash).cmp(&(b.auth_time, &b.id_hash)));
        Ok(v)
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StorageError> {
        Ok(self.inner.lock().sessions.remove(id_hash).is_some())
    }

    async fn delete_sessions(&self, subject: &str) -> Result<usize, StorageError> {
        let mut g = self.inner.lock();
        let before = g.sessions.len();
        g.sessions.retain(|_, s| s.subject != subject);
        Ok(before - g.sessions.len())
    }

    async fn purge_sessions(&self, now: u64) -> Result<(), StorageError> {
        self.inner.lock().sessions.retain(|_, s| s.expires_at > now);
        Ok(())
    }
}
