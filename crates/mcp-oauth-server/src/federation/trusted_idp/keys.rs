//! The signing keys of the trusted providers: an inline JWK Set, or one
//! fetched from the provider's `jwks_uri` and kept for [`JWKS_TTL`]
//! seconds. A `kid` the set does not hold fetches it again at once (keys
//! rotated at the provider), at most every [`DEFAULT_REFETCH_INTERVAL`] per
//! provider; a failed fetch is not retried for [`DEFAULT_RETRY_INTERVAL`].
//! While the provider cannot be reached, the keys fetched last serve on,
//! but never once they are [`STALE_LIMIT`] seconds old: then the grant is
//! answered `temporarily_unavailable`. Every time here is the server's
//! [`Clock`]'s. Which keys may verify which algorithm is the shared rule
//! of [`mcp_oauth_core::jose`].
//!
//! The URL is the operator's, like an upstream's, so it is fetched without
//! the SSRF guard of [`crate::fetch`] (which exists for URLs strangers
//! give): an enterprise provider may well sit on a private network. It is
//! fetched with redirects off, a time limit and a size cap.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use mcp_oauth_core::jose::{
    DEFAULT_REFETCH_INTERVAL, DEFAULT_RETRY_INTERVAL, VerificationKey, verification_keys,
};
use parking_lot::Mutex;
use serde_json::Value;

use super::TrustedIdpConfig;
use crate::clock::Clock;
use crate::federation::UpstreamConfig;

/// How long (seconds) a fetched JWK Set is used before it is fetched again.
const JWKS_TTL: u64 = 600;
/// How old (seconds since it was fetched) a JWK Set may become while the
/// provider cannot be reached: a day. Past it no grant of the provider is
/// accepted until its keys can be fetched again.
const STALE_LIMIT: u64 = 86_400;
/// Largest JWK Set document read.
const MAX_BODY: usize = 256 * 1024;

/// Why no key verifies a grant; each message is the `invalid_grant`
/// description, except [`IdpKeyError::Unavailable`]'s (logged; the client
/// is told `temporarily_unavailable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum IdpKeyError {
    /// The key set could not be fetched or is unusable.
    #[error("the identity provider's keys could not be fetched: {0}")]
    Unavailable(String),
    /// No published key has the grant's `kid`.
    #[error("the assertion is signed with a key the identity provider does not publish (kid)")]
    UnknownKey,
    /// No `kid`, and the provider publishes several keys.
    #[error("the assertion names no key (kid) and the identity provider publishes several")]
    NoKid,
    /// The key may not verify the grant's algorithm.
    #[error("the identity provider's key {0} does not verify {1:?} signatures")]
    WrongAlgorithm(String, Algorithm),
}

/// A trusted provider and its keys.
pub(crate) struct TrustedIdp {
    /// Its configuration.
    pub(crate) config: TrustedIdpConfig,
    inline: Option<Arc<Vec<VerificationKey>>>,
    fetched: Mutex<Option<(Arc<Vec<VerificationKey>>, u64)>>,
    failed_at: Mutex<Option<u64>>,
    forced_at: Mutex<Option<u64>>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

/// The configured trusted providers.
pub(crate) struct TrustedIdps {
    idps: Vec<TrustedIdp>,
}

impl TrustedIdps {
    /// Checks the configurations (each valid, names and issuers distinct,
    /// no clash with an upstream's subjects); the keys' ages are read from
    /// `clock`.
    pub(crate) fn new(
        configs: &[TrustedIdpConfig],
        upstreams: &[UpstreamConfig],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        super::validate_all(configs, upstreams)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("mcp-oauth-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client for trusted identity providers: {e}"))?;
        let idps = configs
            .iter()
            .map(|c| TrustedIdp {
                config: c.clone(),
                inline: c.jwks.as_ref().map(|s| Arc::new(verification_keys(s))),
                fetched: Mutex::new(None),
                failed_at: Mutex::new(None),
                forced_at: Mutex::new(None),
                http: http.clone(),
                clock: clock.clone(),
            })
            .collect();
        Ok(Self { idps })
    }

    /// Whether none is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.idps.is_empty()
    }

    /// The provider whose issuer is exactly `iss`.
    pub(crate) fn by_issuer(&self, iss: &str) -> Option<&TrustedIdp> {
        self.idps.iter().find(|i| i.config.issuer == iss)
    }

    /// The provider named `name`.
    pub(crate) fn by_name(&self, name: &str) -> Option<&TrustedIdp> {
        self.idps.iter().find(|i| i.config.name == name)
    }
}

/// How a JWK Set fetched at `fetched_at` may be used at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Age {
    /// Within [`JWKS_TTL`]: used as it is.
    Fresh,
    /// Fetched again first; used only if the provider cannot be reached.
    Stale,
    /// Past [`STALE_LIMIT`]: fetched again, never used.
    Expired,
}

/// The [`Age`] of a set fetched at `fetched_at`, at `now` (a clock that
/// went back reads as fresh).
fn age(fetched_at: u64, now: u64) -> Age {
    let elapsed = now.saturating_sub(fetched_at);
    if elapsed < JWKS_TTL {
        Age::Fresh
    } else if elapsed < STALE_LIMIT {
        Age::Stale
    } else {
        Age::Expired
    }
}

/// Whether an attempt at `now` is spaced at least `interval` seconds from
/// the last one (`None`: none yet).
fn spaced(last: Option<u64>, now: u64, interval: Duration) -> bool {
    last.is_none_or(|t| now >= t.saturating_add(interval.as_secs()))
}

impl TrustedIdp {
    /// The key for `kid` (or the only key without one) that may verify
    /// `alg`, fetching the set as needed.
    pub(crate) async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, IdpKeyError> {
        if let Some(keys) = &self.inline {
            return select(keys, kid, alg).unwrap_or(Err(missing(kid)));
        }
        let keys = self.current().await?;
        if let Some(found) = select(&keys, kid, alg) {
            return found;
        }
        // An unknown kid: the provider may have rotated its keys.
        if kid.is_some() && self.may_force() {
            let keys = self.load().await?;
            if let Some(found) = select(&keys, kid, alg) {
                return found;
            }
        }
        Err(missing(kid))
    }

    /// Whether an unknown `kid` may force a fetch now (at most one every
    /// [`DEFAULT_REFETCH_INTERVAL`]); if so, the attempt is recorded.
    fn may_force(&self) -> bool {
        let now = self.clock.now();
        let mut last = self.forced_at.lock();
        let pass = spaced(*last, now, DEFAULT_REFETCH_INTERVAL);
        if pass {
            *last = Some(now);
        }
        pass
    }

    /// The cached set, fetched when absent or stale; stale keys serve on
    /// while the provider cannot be reached, up to [`STALE_LIMIT`].
    async fn current(&self) -> Result<Arc<Vec<VerificationKey>>, IdpKeyError> {
        let cached = self.fetched.lock().clone();
        let Some((keys, at)) = cached else {
            return self.load().await;
        };
        match age(at, self.clock.now()) {
            Age::Fresh => Ok(keys),
            Age::Stale => match self.load().await {
                Ok(keys) => Ok(keys),
                Err(e) => {
                    tracing::warn!(idp = %self.config.name, error = %e,
                        "using the trusted provider's previous keys");
                    Ok(keys)
                }
            },
            Age::Expired => self.load().await.inspect_err(|_| {
                tracing::warn!(idp = %self.config.name,
                    "the trusted provider's keys are over a day old and cannot be fetched \
                     again: its grants are refused until they can");
            }),
        }
    }

    /// Fetches the set (unless a fetch failed a moment ago) and keeps it.
    async fn load(&self) -> Result<Arc<Vec<VerificationKey>>, IdpKeyError> {
        let uri = self.config.jwks_uri.as_deref().unwrap_or_default();
        let now = self.clock.now();
        if !spaced(*self.failed_at.lock(), now, DEFAULT_RETRY_INTERVAL) {
            return Err(IdpKeyError::Unavailable(
                "a fetch failed a moment ago".into(),
            ));
        }
        match fetch(&self.http, uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.fetched.lock() = Some((keys.clone(), now));
                *self.failed_at.lock() = None;
                Ok(keys)
            }
            Err(e) => {
                *self.failed_at.lock() = Some(now);
                tracing::warn!(idp = %self.config.name, jwks_uri = %uri, error = %e,
                    "fetching a trusted provider's keys failed");
                Err(e)
            }
        }
    }
}

async fn fetch(http: &reqwest::Client, uri: &str) -> Result<Vec<VerificationKey>, IdpKeyError> {
    let unavailable = |e: &dyn std::fmt::Display| IdpKeyError::Unavailable(e.to_string());
    let mut response = http
        .get(uri)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| unavailable(&e))?;
    if response.status() != 200 {
        return Err(unavailable(&format!("HTTP {}", response.status().as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(unavailable(&"the JWK Set is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    let doc: Value = serde_json::from_slice(&body).map_err(|e| unavailable(&e))?;
    if !doc.get("keys").is_some_and(Value::is_array) {
        return Err(unavailable(&"not a JWK Set"));
    }
    // Keys this library cannot read and keys not for verifying signatures
    // are skipped rather than failing the whole set.
    Ok(verification_keys(&doc))
}

/// Why no key was found for `kid`.
fn missing(kid: Option<&str>) -> IdpKeyError {
    if kid.is_some() {
        IdpKeyError::UnknownKey
    } else {
        IdpKeyError::NoKid
    }
}

/// The key for `kid` (or the only key, without one), if the set has it.
fn select(
    keys: &[VerificationKey],
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<Result<DecodingKey, IdpKeyError>> {
    let key = match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid))?,
        None if keys.len() == 1 => &keys[0],
        None => return None,
    };
    if !key.verifies(alg) {
        let name = key.kid.clone().unwrap_or_else(|| "(without kid)".into());
        return Some(Err(IdpKeyError::WrongAlgorithm(name, alg)));
    }
    Some(Ok(key.key.clone()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[derive(Debug)]
    struct Manual(AtomicU64);

    impl Clock for Manual {
        fn now(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn keys_age_from_fresh_to_stale_to_unusable() {
        let t = 1_000_000;
        assert_eq!(age(t, t), Age::Fresh);
        assert_eq!(age(t, t + JWKS_TTL - 1), Age::Fresh);
        assert_eq!(age(t, t + JWKS_TTL), Age::Stale);
        assert_eq!(age(t, t + STALE_LIMIT - 1), Age::Stale);
        assert_eq!(age(t, t + STALE_LIMIT), Age::Expired);
        assert_eq!(age(t, t - 5), Age::Fresh, "a clock gone back");
        assert!(spaced(None, t, DEFAULT_REFETCH_INTERVAL));
        assert!(!spaced(Some(t), t + 9, DEFAULT_REFETCH_INTERVAL));
        assert!(spaced(Some(t), t + 10, DEFAULT_REFETCH_INTERVAL));
    }

    /// A provider whose `jwks_uri` refuses connections, holding keys
    /// fetched at `t`.
    fn unreachable(clock: Arc<Manual>, t: u64) -> TrustedIdp {
        let set = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": "8lZVm474RJPLRfENRwgmJBOrUBN_nXNDBGc9DEYFziI",
            "y": "iTqLMxPlcM4XwFPMN36XNIhC6wFTG0XvLdp8q_Gv5B0"}]});
        // Port 9 (discard) on loopback: nothing listens in a test.
        let config = TrustedIdpConfig::with_jwks_uri(
            "acme",
            "http://127.0.0.1:9",
            "http://127.0.0.1:9/keys",
            ["agent"],
        );
        let idps = TrustedIdps::new(&[config], &[], clock).unwrap();
        let idp = idps.idps.into_iter().next().unwrap();
        *idp.fetched.lock() = Some((Arc::new(verification_keys(&set)), t));
        idp
    }

    #[tokio::test]
    async fn stale_keys_serve_while_unreachable_but_not_past_a_day() {
        let t = 1_000_000;
        let clock = Arc::new(Manual(AtomicU64::new(t + JWKS_TTL + 1)));
        let idp = unreachable(clock.clone(), t);
        assert!(
            idp.key(Some("k1"), Algorithm::ES256).await.is_ok(),
            "stale keys serve while the provider cannot be reached"
        );
        clock.0.store(t + STALE_LIMIT, Ordering::SeqCst);
        assert!(matches!(
            idp.key(Some("k1"), Algorithm::ES256).await,
            Err(IdpKeyError::Unavailable(_))
        ));
    }
}
