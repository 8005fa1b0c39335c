//! The upstream token vault in storage: its record (a person's tokens at
//! one upstream provider, sealed by the caller before they reach storage,
//! so the backends never see them in the clear) and the store contract
//! ([`VaultStore`]).

use async_trait::async_trait;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::StorageError;

/// A person's upstream tokens at one provider, as stored: one per
/// (subject, provider). The tokens are in [`UpstreamTokenRecord::sealed`],
/// encrypted and bound to the subject and provider by the caller; the other
/// fields say whose they are and which grant they belong to.
///
/// They end with the person's grants: [`GrantStore::revoke_subject`]
/// deletes a subject's records, [`AccountStore::revoke_grants`] those of
/// the (subject, client) pairs whose grants it ended, and
/// [`ClientStore::reap_idle_clients`] those of the clients it reaps, each
/// in the same write.
///
/// [`GrantStore::revoke_subject`]: super::GrantStore::revoke_subject
/// [`AccountStore::revoke_grants`]: super::AccountStore::revoke_grants
/// [`ClientStore::reap_idle_clients`]: super::ClientStore::reap_idle_clients
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpstreamTokenRecord {
    /// The person (`provider:subject`).
    pub subject: String,
    /// The upstream provider's id.
    pub provider: String,
    /// The client through which the person signed in (their grant to it
    /// ending ends these tokens).
    pub client_id: String,
    /// The person's generation when they signed in: tokens of an older
    /// generation are never handed out.
    pub generation: u64,
    /// The sealed tokens (ciphertext).
    pub sealed: String,
    /// A fresh random value (nonzero, below 2^63) at every write, the
    /// compare-and-set of
    /// [`VaultStore::replace_upstream_token`](super::VaultStore::replace_upstream_token).
    /// Random rather than counted, so a version never comes back for a
    /// (subject, provider): a counter restarting at 1 after a delete and a
    /// new sign-in would let a slow refresh of the old record overwrite
    /// the new one.
    pub version: u64,
    /// When it was last written.
    pub updated_at: u64,
}

impl UpstreamTokenRecord {
    /// A record to store (its version is the storage's to set).
    pub fn new(
        subject: impl Into<String>,
        provider: impl Into<String>,
        client_id: impl Into<String>,
        generation: u64,
        sealed: impl Into<String>,
        updated_at: u64,
    ) -> Self {
        Self {
            subject: subject.into(),
            provider: provider.into(),
            client_id: client_id.into(),
            generation,
            sealed: sealed.into(),
            version: 0,
            updated_at,
        }
    }
}

impl std::fmt::Debug for UpstreamTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTokenRecord")
            .field("subject", &self.subject)
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("generation", &self.generation)
            .field("version", &self.version)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// A fresh [`UpstreamTokenRecord::version`]: random, nonzero, below 2^63 (it
/// fits a signed 64-bit column), and not `previous`.
pub(crate) fn fresh_version(previous: Option<u64>) -> Result<u64, StorageError> {
    let rng = SystemRandom::new();
    loop {
        let mut bytes = [0u8; 8];
        rng.fill(&mut bytes).map_err(|_| StorageError::Random)?;
        let v = u64::from_be_bytes(bytes) >> 1;
        if v != 0 && Some(v) != previous {
            return Ok(v);
        }
    }
}

/// The upstream token vault: a person's sealed tokens at an upstream
/// provider, one record per (subject, provider), ended with their grants
/// (see [`UpstreamTokenRecord`]).
///
/// [`VaultStore::replace_upstream_token`] is a compare-and-set on the
/// record's version, so two instances refreshing one person's upstream
/// token at once do not overwrite the newer token with an older one. Every
/// write sets a fresh random version (see [`UpstreamTokenRecord::version`]),
/// so a version read before a delete and a new sign-in never matches the
/// new record.
#[async_trait]
pub trait VaultStore: Send + Sync {
    /// Stores a person's tokens at a provider, replacing what was there
    /// (a new sign-in); returns the new (fresh random) version.
    async fn put_upstream_token(&self, record: UpstreamTokenRecord) -> Result<u64, StorageError>;

    /// A person's tokens at a provider.
    async fn upstream_token(
        &self,
        subject: &str,
        provider: &str,
    ) -> Result<Option<UpstreamTokenRecord>, StorageError>;

    /// Replaces the sealed tokens and `updated_at` of `record`'s (subject,
    /// provider) if its version is still `expected` (one conditional
    /// write); returns the new (fresh random) version, or `None` when
    /// another write came first (or the record is gone).
    async fn replace_upstream_token(
        &self,
        record: UpstreamTokenRecord,
        expected: u64,
    ) -> Result<Option<u64>, StorageError>;

    /// Deletes a person's tokens at a provider if their version is still
    /// `expected`; returns whether they went.
    async fn delete_upstream_token(
        &self,
        subject: &str,
        provider: &str,
        expected: u64,
    ) -> Result<bool, StorageError>;

    /// Deletes the tokens of every provider not in `keep` (providers no
    /// longer configured, or no longer storing tokens); returns how many.
    async fn retain_upstream_tokens(&self, keep: &[String]) -> Result<u64, StorageError>;
}
