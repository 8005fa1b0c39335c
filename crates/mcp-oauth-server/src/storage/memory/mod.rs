//! In-memory storage: for tests and throwaway servers. Everything is lost
//! when the process ends.

mod account;
mod audit;
mod clients;
mod counters;
mod devices;
mod grants;
mod keys;
mod users;
mod vault;

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;

use super::{
    ClientRecord, CodeRecord, IdentityRecord, IssuedFromCode, RefreshRecord, SigningKeyRecord,
    SubjectState, UserRecord,
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
    /// Device authorizations by device code hash.
    devices: HashMap<String, super::DeviceRecord>,
    /// Device code hashes by user code.
    device_codes: HashMap<String, String>,
    /// Grants by (subject, client, resource), with when each was last
    /// revoked.
    grants: HashMap<(String, String, String), (super::GrantRecord, u64)>,
    /// Sessions by identifier hash.
    sessions: HashMap<String, super::SessionRecord>,
    /// The audit trail, in order.
    audit: Vec<super::AuditEvent>,
    /// The last position given to an audit event.
    audit_seq: i64,
    /// Sealed upstream tokens by (subject, provider).
    vault: HashMap<(String, String), super::UpstreamTokenRecord>,
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
