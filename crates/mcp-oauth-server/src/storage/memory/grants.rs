//! In-memory storage: codes, refresh families, revocations and subjects ([`GrantStore`]).

use async_trait::async_trait;
use std::collections::HashSet;

use super::{MemoryStorage, StoredRefresh};
use crate::storage::policy::{Rotation, rotation};
use crate::storage::{
    CodeConsumption, CodeRecord, GrantStore, IssuedFromCode, RefreshRecord, RefreshRotation,
    StorageError, StoredCode, SubjectState,
};

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

    async fn revoke_family(&self, family_id: &str, _now: u64) -> Result<(), StorageError> {
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
        g.sessions.retain(|_, s| s.subject != subject);
        // Their grants end with everything else: no remembered consent lets
        // a later session approve silently. The records go too: the new
        // generation and revocation time above already end what the grants
        // issued, and a new approval, even in this same second, starts
        // afresh.
        g.consents.retain(|(s, _, _), _| s != subject);
        g.grants.retain(|(s, _, _), _| s != subject);
        g.vault.retain(|(s, _), _| s != subject);
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
        g.grants.retain(|_, (record, revoked_at)| {
            *revoked_at == 0
                || *revoked_at < record.granted_at
                || revoked_at.saturating_add(code_retention.saturating_mul(2)) > now
        });
        Ok(())
    }
}
