//! Counters a [`Verifier`](crate::Verifier) keeps about its work, for
//! operators' metrics and for tests that must see what happened inside.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a verifier's caches and outbound traffic; see
/// [`Verifier::stats`](crate::Verifier::stats).
///
/// Taking a snapshot first lets the cache apply its pending bookkeeping
/// (evictions, expiries), so the cache figures are those of the moment;
/// the weight of an entry is an estimate of the memory it holds. The fetch
/// and call counters count attempts (successful or not) since the verifier
/// was built.
///
/// ```
/// use mcp_oauth_verifier::Verifier;
///
/// let verifier = Verifier::builder("https://mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .build()?;
/// let stats = verifier.stats();
/// assert_eq!(stats.cached_tokens, 0);
/// assert_eq!(stats.introspections_in_flight, 0);
/// assert_eq!(stats.jwks_fetches, 0);
/// # Ok::<(), mcp_oauth_verifier::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifierStats {
    /// Verdicts in the token cache (verified JWTs, or introspection
    /// answers).
    pub cached_tokens: u64,
    /// Estimated bytes those entries take (what the budget of
    /// [`VerifierBuilder::cache_max_bytes`](crate::VerifierBuilder::cache_max_bytes)
    /// limits).
    pub cache_bytes: u64,
    /// Introspection calls waiting for the authorization server now.
    pub introspections_in_flight: u64,
    /// Introspection calls made.
    pub introspections: u64,
    /// JWK Set fetches attempted.
    pub jwks_fetches: u64,
    /// Authorization server metadata fetches attempted.
    pub metadata_fetches: u64,
}

/// The running counters behind [`VerifierStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    introspections: AtomicU64,
    jwks_fetches: AtomicU64,
    metadata_fetches: AtomicU64,
}

impl Counters {
    pub(crate) fn introspection(&self) {
        self.introspections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn jwks_fetch(&self) {
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn metadata_fetch(&self) {
        self.metadata_fetches.fetch_add(1, Ordering::Relaxed);
    }

    /// Fills the counter fields of `stats`.
    pub(crate) fn fill(&self, stats: &mut VerifierStats) {
        stats.introspections = self.introspections.load(Ordering::Relaxed);
        stats.jwks_fetches = self.jwks_fetches.load(Ordering::Relaxed);
        stats.metadata_fetches = self.metadata_fetches.load(Ordering::Relaxed);
    }
}
