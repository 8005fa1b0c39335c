//! In-memory storage: for tests and throwaway servers. Everything is lost
//! when the process ends.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use parking_lot::Mutex;

use super::policy::{Rotation, rotation};
use super::{
    ClientRecord, ClientStore, CodeConsumption, CodeRecord, CounterStore, GrantStore,
    IdentityRecord, IssuedFromCode, KeyStore, RefreshRecord, RefreshRotation, SigningKeyRecord,
    StorageError, StoredCode, SubjectState, UserRecord, UserStore,
};

/// A refresh token and, once spent, its successor.
struct StoredRefresh {
    record: RefreshRecord,
    successor: Option<(String, String)>,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<String, ClientRecord>,
    /// Clients no person has consented to yet (never the operator's).
    unused_clients: HashSet<String>,
    codes: HashMap<String, (CodeRecord, bool, Option<IssuedFromCode>)>,
    refresh: HashMap<String, StoredRefresh>,
    revoked_families: HashSet<String>,
    revoked_jtis: HashMap<String, u64>,
    keys: Vec<SigningKeyRecord>,
    users: HashMap<String, UserRecord>,
    subjects: HashMap<String, SubjectState>,
    consents: HashMap<(String, String, String), String>,
    identities: HashMap<String, IdentityRecord>,
    counters: HashMap<String, (u32, u64)>,
}

impl Inner {
    fn successor_live(&self, stored: &StoredRefresh, now: u64) -> bool {
        stored
            .successor
            .as_ref()
            .and_then(|(hash, _)| self.refresh.get(hash))
            .is_some_and(|s| s.record.rotated_at.is_none() && s.record.expires_at > now)
    }
}

/// Storage in process memory: for tests and throwaway servers.
#[derive(Default)]
pub struct MemoryStorage {
    inner: Mutex<Inner>,
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }
}

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
                *slot = client;
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

#[async_trait]
impl GrantStore for MemoryStorage {
    async fn insert_code(&self, code: CodeRecord) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        if g.codes.contains_key(&code.code_hash) {
            return Err(StorageError::Conflict);
        }
        g.codes.insert(code.code_hash.clone(), (code, false, None));
        Ok(())
    }

    async fn code(&self, code_hash: &str) -> Result<Option<StoredCode>, StorageError> {
        Ok(self
            .inner
            .lock()
            .codes
            .get(code_hash)
            .map(|(record, used, issued)| StoredCode {
                record: record.clone(),
                used: *used,
                issued: issued.clone(),
            }))
    }

    async fn consume_code(
        &self,
        code_hash: &str,
        issued: IssuedFromCode,
    ) -> Result<CodeConsumption, StorageError> {
        let mut g = self.inner.lock();
        Ok(match g.codes.get_mut(code_hash) {
            None => CodeConsumption::Unknown,
            Some((record, true, recorded)) => CodeConsumption::Replayed {
                record: record.clone(),
                issued: recorded.clone(),
            },
            Some((record, used, recorded)) => {
                *used = true;
                *recorded = Some(issued);
                CodeConsumption::First(record.clone())
            }
        })
    }

    async fn insert_refresh(&self, token: RefreshRecord) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        if g.refresh.contains_key(&token.token_hash) {
            return Err(StorageError::Conflict);
        }
        g.refresh.insert(
            token.token_hash.clone(),
            StoredRefresh {
                record: token,
                successor: None,
            },
        );
        Ok(())
    }

    async fn refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StorageError> {
        Ok(self
            .inner
            .lock()
            .refresh
            .get(token_hash)
            .map(|s| s.record.clone()))
    }

    async fn rotate_refresh(
        &self,
        token_hash: &str,
        successor: RefreshRecord,
        sealed_successor: String,
        now: u64,
        grace: u64,
    ) -> Result<RefreshRotation, StorageError> {
        let mut g = self.inner.lock();
        let Some(stored) = g.refresh.get(token_hash) else {
            return Ok(RefreshRotation::Invalid);
        };
        let current = stored.record.clone();
        let revoked = g.revoked_families.contains(&current.family_id);
        let live = g.successor_live(stored, now);
        match rotation(&current, revoked, live, now, grace) {
            Rotation::Invalid => Ok(RefreshRotation::Invalid),
            Rotation::Reuse => {
                g.revoked_families.insert(current.family_id.clone());
                Ok(RefreshRotation::Reused(current))
            }
            Rotation::Repeat => {
                let sealed = stored
                    .successor
                    .as_ref()
                    .map(|(_, sealed)| sealed.clone())
                    .unwrap_or_default();
                Ok(RefreshRotation::Repeated {
                    record: current,
                    sealed_successor: sealed,
                })
            }
            Rotation::Rotate => {
                if g.refresh.contains_key(&successor.token_hash) {
                    return Err(StorageError::Conflict);
                }
                if let Some(spent) = g.refresh.get_mut(token_hash) {
                    spent.record.rotated_at = Some(now);
                    spent.successor = Some((successor.token_hash.clone(), sealed_successor));
                }
                g.refresh.insert(
                    successor.token_hash.clone(),
                    StoredRefresh {
                        record: successor,
                        successor: None,
                    },
                );
                Ok(RefreshRotation::Rotated(current))
            }
        }
    }

    async fn revoke_family(&self, family_id: &str) -> Result<(), StorageError> {
        self.inner
            .lock()
            .revoked_families
            .insert(family_id.to_owned());
        Ok(())
    }

    async fn family_revoked(&self, family_id: &str) -> Result<bool, StorageError> {
        Ok(self.inner.lock().revoked_families.contains(family_id))
    }

    async fn revoke_jti(&self, jti: &str, exp: u64) -> Result<(), StorageError> {
        self.inner.lock().revoked_jtis.insert(jti.to_owned(), exp);
        Ok(())
    }

    async fn jti_revoked(&self, jti: &str) -> Result<bool, StorageError> {
        Ok(self.inner.lock().revoked_jtis.contains_key(jti))
    }

    async fn use_once(&self, key: &str, exp: u64) -> Result<bool, StorageError> {
        let mut g = self.inner.lock();
        if g.revoked_jtis.contains_key(key) {
            return Ok(false);
        }
        g.revoked_jtis.insert(key.to_owned(), exp);
        Ok(true)
    }

    async fn subject(&self, subject: &str) -> Result<SubjectState, StorageError> {
        Ok(self
            .inner
            .lock()
            .subjects
            .get(subject)
            .copied()
            .unwrap_or_default())
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<SubjectState, StorageError> {
        let mut g = self.inner.lock();
        let state = g.subjects.entry(subject.to_owned()).or_default();
        state.generation = state.generation.saturating_add(1);
        state.revoked_at = now;
        let state = *state;
        let families: Vec<String> = g
            .refresh
            .values()
            .filter(|r| r.record.subject == subject)
            .map(|r| r.record.family_id.clone())
            .collect();
        g.revoked_families.extend(families);
        Ok(state)
    }

    async fn purge_expired_grants(
        &self,
        now: u64,
        code_retention: u64,
    ) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        g.codes
            .retain(|_, (c, _, _)| c.expires_at.saturating_add(code_retention) > now);
        g.refresh.retain(|_, r| r.record.expires_at > now);
        let live: HashSet<String> = g
            .refresh
            .values()
            .map(|r| r.record.family_id.clone())
            .collect();
        g.revoked_families.retain(|f| live.contains(f));
        g.revoked_jtis.retain(|_, exp| *exp > now);
        Ok(())
    }
}

#[async_trait]
impl KeyStore for MemoryStorage {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StorageError> {
        let mut v = self.inner.lock().keys.clone();
        v.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok(v)
    }

    async fn add_signing_key(&self, key: SigningKeyRecord, now: u64) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        for k in g.keys.iter_mut().filter(|k| k.retired_at.is_none()) {
            k.retired_at = Some(now);
        }
        g.keys.push(key);
        Ok(())
    }
}

#[async_trait]
impl UserStore for MemoryStorage {
    async fn upsert_user(&self, user: UserRecord) -> Result<(), StorageError> {
        self.inner.lock().users.insert(user.username.clone(), user);
        Ok(())
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
