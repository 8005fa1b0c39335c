//! One trusted issuer's signing keys, from the JWK Set its metadata names
//! (or the one configured for it). Keys of one issuer never verify another
//! issuer's tokens, and two issuers may use the same `kid`.
//!
//! The set is fetched when a token names a `kid` it lacks. Every attempt,
//! successful or not, is recorded, and the next one waits: the refresh
//! interval while keys are loaded, a shorter retry interval while the
//! issuer has no usable key (before the first load, after an empty set or
//! a failed fetch). Attempts are single-flight: concurrent requests wait
//! for the one fetch in progress (which runs in its own task, so a client
//! that disconnects cannot cancel it), then use its outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::RwLock;
use serde_json::Value;

use crate::claims::Rejection;
use crate::discovery::Discovery;
use crate::fetch::json_body;
use crate::stats::Counters;

/// A verification key and the algorithms it may verify.
pub(crate) struct Key {
    pub(crate) key: DecodingKey,
    pub(crate) algs: Vec<Algorithm>,
}

type KeySet = HashMap<String, Arc<Key>>;

/// The algorithms a JWK may verify: its `alg`, else what its type and curve
/// allow. Symmetric keys from a JWK Set are never used.
fn algs_for(jwk: &Jwk) -> Vec<Algorithm> {
    if let Some(alg) = jwk.common.key_algorithm {
        let a = match alg {
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::ES384 => Algorithm::ES384,
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::RS384 => Algorithm::RS384,
            KeyAlgorithm::RS512 => Algorithm::RS512,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::PS384 => Algorithm::PS384,
            KeyAlgorithm::PS512 => Algorithm::PS512,
            _ => return Vec::new(),
        };
        return vec![a];
    }
    match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => Vec::new(),
        },
        AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        _ => Vec::new(),
    }
}

/// Whether the JWK may verify signatures: `use`, when present, is `sig`,
/// and `key_ops`, when present, includes `verify` (RFC 7517 §4.2, §4.3).
fn is_for_verification(jwk: &Jwk) -> bool {
    let use_ok = match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => true,
        Some(_) => false,
    };
    let ops_ok = jwk
        .common
        .key_operations
        .as_ref()
        .is_none_or(|ops| ops.iter().any(|o| matches!(o, KeyOperations::Verify)));
    use_ok && ops_ok
}

/// The usable keys of a JWK Set document: each member parsed on its own
/// (one the library cannot read does not spoil the others), kept only with
/// a `kid`, a verification purpose and an asymmetric algorithm.
pub(crate) fn usable_keys(document: &Value) -> KeySet {
    let mut keys = KeySet::new();
    let members = document
        .get("keys")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for member in members {
        let Ok(jwk) = serde_json::from_value::<Jwk>(member.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if !is_for_verification(&jwk) {
            continue;
        }
        let algs = algs_for(&jwk);
        if algs.is_empty() {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            keys.insert(kid, Arc::new(Key { key, algs }));
        }
    }
    keys
}

/// What the fetching side remembers between attempts.
#[derive(Default)]
struct Attempts {
    last: Option<Instant>,
    /// Why the last attempt failed, if it did.
    failure: Option<Rejection>,
}

/// What a fetch needs from the verifier.
#[derive(Clone)]
pub(crate) struct FetchContext {
    pub(crate) http: reqwest::Client,
    pub(crate) counters: Arc<Counters>,
}

/// The keys of one issuer.
pub(crate) struct KeySource {
    discovery: Arc<Discovery>,
    /// A JWK Set URL configured for this issuer, else the metadata's.
    configured_uri: Option<String>,
    keys: RwLock<Arc<KeySet>>,
    attempts: Arc<tokio::sync::Mutex<Attempts>>,
    refresh_interval: Duration,
    retry_interval: Duration,
}

impl KeySource {
    pub(crate) fn new(
        discovery: Arc<Discovery>,
        configured_uri: Option<String>,
        refresh_interval: Duration,
        retry_interval: Duration,
    ) -> Self {
        Self {
            discovery,
            configured_uri,
            keys: RwLock::default(),
            attempts: Arc::default(),
            refresh_interval,
            retry_interval,
        }
    }

    /// The issuer these keys belong to.
    pub(crate) fn issuer(&self) -> &str {
        self.discovery.issuer()
    }

    /// The key named `kid` (without a `kid`: the only key, if there is
    /// exactly one), fetching the set first when it is not known and the
    /// rate limit allows. Without any usable key the answer is 503 (the
    /// resource cannot verify anything); with keys but not this one, 401.
    pub(crate) async fn key(
        self: &Arc<Self>,
        kid: Option<&str>,
        ctx: &FetchContext,
    ) -> Result<Arc<Key>, Rejection> {
        if let Some(k) = self.lookup(kid) {
            return Ok(k);
        }
        let refreshed = self.refresh(kid, ctx).await;
        if let Some(k) = self.lookup(kid) {
            return Ok(k);
        }
        refreshed?;
        if self.keys.read().is_empty() {
            Err(Rejection::Unavailable(format!(
                "no usable signing key published by {}",
                self.issuer()
            )))
        } else {
            Err(Rejection::InvalidToken("unknown signing key".into()))
        }
    }

    fn lookup(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        let keys = self.keys.read();
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    /// Fetches the set unless an attempt is too recent; `Err` when this
    /// attempt, or the recent one that stands for it, failed.
    async fn refresh(
        self: &Arc<Self>,
        kid: Option<&str>,
        ctx: &FetchContext,
    ) -> Result<(), Rejection> {
        let mut attempts = self.attempts.clone().lock_owned().await;
        if self.lookup(kid).is_some() {
            return Ok(()); // fetched while this request waited
        }
        let spacing = if self.keys.read().is_empty() {
            self.retry_interval
        } else {
            self.refresh_interval
        };
        if attempts.last.is_some_and(|t| t.elapsed() < spacing) {
            return match &attempts.failure {
                Some(failure) => Err(failure.clone()),
                None => Ok(()),
            };
        }
        attempts.last = Some(Instant::now());
        let (me, ctx) = (self.clone(), ctx.clone());
        tokio::spawn(async move {
            let outcome = me.fetch(&ctx).await;
            attempts.failure = outcome.as_ref().err().cloned();
            if let Ok(set) = outcome {
                *me.keys.write() = Arc::new(set);
                return Ok(());
            }
            Err(attempts
                .failure
                .clone()
                .unwrap_or_else(|| Rejection::Unavailable("JWK Set fetch failed".into())))
        })
        .await
        .unwrap_or_else(|_| Err(Rejection::Unavailable("JWK Set fetch failed".into())))
    }

    async fn fetch(&self, ctx: &FetchContext) -> Result<KeySet, Rejection> {
        let uri = match &self.configured_uri {
            Some(uri) => uri.clone(),
            None => self
                .discovery
                .endpoints(&ctx.http, &ctx.counters)
                .await?
                .jwks_uri
                .clone()
                .ok_or_else(|| {
                    Rejection::Unavailable(format!("{} publishes no jwks_uri", self.issuer()))
                })?,
        };
        ctx.counters.jwks_fetch();
        let unavailable = |e: String| {
            tracing::warn!(jwks_uri = %uri, reason = %e, "JWK Set unavailable");
            Rejection::Unavailable(format!("JWKS {uri}: {e}"))
        };
        let response = ctx
            .http
            .get(&uri)
            .header("accept", "application/json")
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(e.to_string()))?;
        let document: Value = json_body(response).await.map_err(unavailable)?;
        Ok(usable_keys(&document))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const X: &str = "8lZVm474RJPLRfENRwgmJBOrUBN_nXNDBGc9DEYFziI";
    const Y: &str = "iTqLMxPlcM4XwFPMN36XNIhC6wFTG0XvLdp8q_Gv5B0";

    fn ec(extra: Value) -> Value {
        let mut k = json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y});
        for (name, v) in extra.as_object().unwrap() {
            k[name] = v.clone();
        }
        k
    }

    #[test]
    fn keys_not_meant_for_verification_are_left_out() {
        let set = json!({"keys": [
            ec(json!({"kid": "sig", "use": "sig"})),
            ec(json!({"kid": "plain"})),
            ec(json!({"kid": "verify", "key_ops": ["verify"]})),
            ec(json!({"kid": "enc", "use": "enc"})),
            ec(json!({"kid": "other-use", "use": "tls"})),
            ec(json!({"kid": "sign-only", "key_ops": ["sign"]})),
            ec(json!({"kid": "no-ops", "key_ops": []})),
            ec(json!({})),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},
            {"kty": "unknown", "kid": "junk"},
            "not a key",
        ]});
        let mut kids: Vec<_> = usable_keys(&set).into_keys().collect();
        kids.sort();
        assert_eq!(kids, ["plain", "sig", "verify"]);
    }

    #[test]
    fn a_document_without_keys_has_no_usable_key() {
        for doc in [
            json!({}),
            json!({"keys": []}),
            json!({"keys": 3}),
            json!([]),
        ] {
            assert!(usable_keys(&doc).is_empty(), "{doc}");
        }
    }
}
