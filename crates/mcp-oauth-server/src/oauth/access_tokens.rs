//! Verifying the access tokens this server (or another instance sharing
//! its storage) issued, for introspection and revocation.

use std::sync::Arc;
use std::time::Instant;

use mcp_oauth_core::jose::{KeyState, RefetchGate};
use mcp_oauth_core::secret::token_hash;
use mcp_oauth_core::token::AccessTokenClaims;
use parking_lot::Mutex;

use crate::cache::Expiring;
use crate::keys::KeyManager;
use crate::stamp_cache::StampCache;
use crate::storage::Storage;

/// Whether an access token (by `jti`) is live (not revoked, not issued
/// before its person's or its grant's revocation), as storage answered
/// while its stamp read the same.
pub(crate) type LiveTokens = StampCache<String, bool>;

/// Bytes of verified access tokens kept in memory (about 20,000 tokens).
const VERIFIED_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Access tokens verified once, and the throttle on key reloads.
pub(crate) struct AccessTokens {
    /// Access tokens verified, by SHA-256, with the `kid` of their key,
    /// until they expire: checking a token again costs a hash and a lookup
    /// instead of a signature verification, as long as its key is still
    /// loaded (a withdrawn key's tokens stop verifying at once).
    /// Revocation is checked by the callers every time.
    verified: Expiring<(Arc<AccessTokenClaims>, Arc<str>)>,
    /// How often a token signed by a key this instance has not loaded may
    /// make it reload the keys from storage (the shared key-set refetch
    /// interval).
    key_reload: Mutex<RefetchGate>,
    /// Revocation answers by `jti`, valid while storage is unchanged.
    live: LiveTokens,
}

impl AccessTokens {
    /// An empty cache.
    pub(crate) fn new() -> Self {
        Self {
            verified: Expiring::new(VERIFIED_CACHE_BYTES),
            key_reload: Mutex::new(RefetchGate::default()),
            live: LiveTokens::new(),
        }
    }

    /// The revocation answers kept while storage is unchanged.
    pub(crate) fn live(&self) -> &LiveTokens {
        &self.live
    }

    /// Entries and estimated bytes of the cache of verified tokens.
    pub(crate) fn cached(&self) -> (u64, u64) {
        self.verified.size()
    }

    /// The claims of `token` if `keys` verify it at `now`. A token signed
    /// with a key this instance has not loaded yet makes it reload the keys
    /// from `storage`, at most every
    /// [`DEFAULT_REFETCH_INTERVAL`](mcp_oauth_core::jose::DEFAULT_REFETCH_INTERVAL).
    pub(crate) async fn verify(
        &self,
        keys: &KeyManager,
        storage: &dyn Storage,
        now: u64,
        token: &str,
    ) -> Option<Arc<AccessTokenClaims>> {
        let key = token_hash(token);
        if let Some((claims, kid)) = self.verified.get(&key)
            && claims.exp > now
            && keys.knows(&kid)
        {
            return Some(claims);
        }
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        if let Some(claims) = keys.verify(token) {
            let claims = Arc::new(claims);
            let value = (claims.clone(), Arc::from(kid));
            self.verified
                .insert(key, value, 2 * token.len(), claims.exp, now);
            return Some(claims);
        }
        if keys.knows(&kid) {
            return None;
        }
        if !self
            .key_reload
            .lock()
            .try_pass(Instant::now(), KeyState::Loaded)
        {
            return None;
        }
        if let Err(e) = keys.reload(storage, now).await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        keys.verify(token).map(Arc::new)
    }
}
