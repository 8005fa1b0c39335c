//! The signing keys of the trusted providers: an inline JWK Set, or one
//! fetched from the provider's `jwks_uri` and kept for [`JWKS_TTL`]. A
//! `kid` the set does not hold fetches it again at once (keys rotated at
//! the provider), at most every
//! [`DEFAULT_REFETCH_INTERVAL`](mcp_oauth_core::jose::DEFAULT_REFETCH_INTERVAL)
//! per provider; a failed fetch is not retried for
//! [`DEFAULT_RETRY_INTERVAL`]. Which keys may verify which algorithm is the
//! shared rule of [`mcp_oauth_core::jose`].
//!
//! The URL is the operator's, like an upstream's, so it is fetched without
//! the SSRF guard of [`crate::fetch`] (which exists for URLs strangers
//! give): an enterprise provider may well sit on a private network. It is
//! fetched with redirects off, a time limit and a size cap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey};
use mcp_oauth_core::jose::{
    DEFAULT_RETRY_INTERVAL, KeyState, RefetchGate, VerificationKey, verification_keys,
};
use parking_lot::Mutex;
use serde_json::Value;

use super::TrustedIdpConfig;
use crate::federation::UpstreamConfig;

/// How long a fetched JWK Set is used before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(600);
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
    fetched: Mutex<Option<(Arc<Vec<VerificationKey>>, Instant)>>,
    failed_at: Mutex<Option<Instant>>,
    forced: Mutex<RefetchGate>,
    http: reqwest::Client,
}

/// The configured trusted providers.
pub(crate) struct TrustedIdps {
    idps: Vec<TrustedIdp>,
}

impl TrustedIdps {
    /// Checks the configurations (each valid, names and issuers distinct,
    /// no clash with an upstream's subjects).
    pub(crate) fn new(
        configs: &[TrustedIdpConfig],
        upstreams: &[UpstreamConfig],
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
                forced: Mutex::new(RefetchGate::default()),
                http: http.clone(),
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
        let may = self
            .forced
            .lock()
            .try_pass(Instant::now(), KeyState::Loaded);
        if kid.is_some() && may {
            let keys = self.load().await?;
            if let Some(found) = select(&keys, kid, alg) {
                return found;
            }
        }
        Err(missing(kid))
    }

    /// The cached set, fetched when absent or stale; stale keys serve on
    /// while the provider cannot be reached.
    async fn current(&self) -> Result<Arc<Vec<VerificationKey>>, IdpKeyError> {
        let cached = self.fetched.lock().clone();
        match cached {
            Some((keys, at)) if at.elapsed() < JWKS_TTL => Ok(keys),
            stale => match self.load().await {
                Ok(keys) => Ok(keys),
                Err(e) => match stale {
                    Some((keys, _)) => {
                        tracing::warn!(idp = %self.config.name, error = %e,
                            "using the trusted provider's previous keys");
                        Ok(keys)
                    }
                    None => Err(e),
                },
            },
        }
    }

    /// Fetches the set (unless a fetch failed a moment ago) and keeps it.
    async fn load(&self) -> Result<Arc<Vec<VerificationKey>>, IdpKeyError> {
        let uri = self.config.jwks_uri.as_deref().unwrap_or_default();
        if self
            .failed_at
            .lock()
            .is_some_and(|t| t.elapsed() < DEFAULT_RETRY_INTERVAL)
        {
            return Err(IdpKeyError::Unavailable(
                "a fetch failed a moment ago".into(),
            ));
        }
        match fetch(&self.http, uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.fetched.lock() = Some((keys.clone(), Instant::now()));
                *self.failed_at.lock() = None;
                Ok(keys)
            }
            Err(e) => {
                *self.failed_at.lock() = Some(Instant::now());
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
