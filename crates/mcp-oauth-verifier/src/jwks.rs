//! One trusted issuer's signing keys, from the JWK Set its metadata names
//! (or the one configured for it). Keys of one issuer never verify another
//! issuer's tokens, and two issuers may use the same `kid`.
//!
//! Which members of the set may verify what is the shared rule of
//! [`mcp_oauth_core::jose`]. The set is fetched when a token names a `kid`
//! it lacks. Every attempt, successful or not, is recorded in a
//! [`RefetchGate`], and the next one waits: the refresh interval while keys
//! are loaded, a shorter retry interval while the issuer has no usable key
//! (before the first load, after an empty set or a failed fetch). Attempts are single-flight: concurrent requests wait
//! for the one fetch in progress (which runs in its own task, so a client
//! that disconnects cannot cancel it), then use its outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_oauth_core::jose::{KeyState, RefetchGate, VerificationKey, verification_keys};
use parking_lot::RwLock;
use serde_json::Value;

use crate::claims::Rejection;
use crate::discovery::Discovery;
use crate::fetch::json_body;
use crate::stats::Counters;
use crate::unavailable::Unavailable;

type KeySet = HashMap<String, Arc<VerificationKey>>;

/// The usable keys of a JWK Set document (see
/// [`verification_keys`]), kept only with a `kid`.
pub(crate) fn usable_keys(document: &Value) -> KeySet {
    verification_keys(document)
        .into_iter()
        .filter_map(|key| Some((key.kid.clone()?, Arc::new(key))))
        .collect()
}

/// What the fetching side remembers between attempts.
struct Attempts {
    /// When the last attempt was, and how far apart attempts must be.
    gate: RefetchGate,
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
            attempts: Arc::new(tokio::sync::Mutex::new(Attempts {
                gate: RefetchGate::new(refresh_interval).with_retry_interval(retry_interval),
                failure: None,
            })),
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
    ) -> Result<Arc<VerificationKey>, Rejection> {
        if let Some(k) = self.lookup(kid) {
            return Ok(k);
        }
        let refreshed = self.refresh(kid, ctx).await;
        if let Some(k) = self.lookup(kid) {
            return Ok(k);
        }
        refreshed?;
        if self.keys.read().is_empty() {
            Err(Rejection::Unavailable(Unavailable::new(format!(
                "no usable signing key published by {}",
                self.issuer()
            ))))
        } else {
            Err(Rejection::InvalidToken("unknown signing key".into()))
        }
    }

    fn lookup(&self, kid: Option<&str>) -> Option<Arc<VerificationKey>> {
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
        let held = if self.keys.read().is_empty() {
            KeyState::Missing
        } else {
            KeyState::Loaded
        };
        if !attempts.gate.try_pass(Instant::now(), held) {
            return match &attempts.failure {
                Some(failure) => Err(failure.clone()),
                None => Ok(()),
            };
        }
        let (me, ctx) = (self.clone(), ctx.clone());
        tokio::spawn(async move {
            let outcome = me.fetch(&ctx).await;
            attempts.failure = outcome.as_ref().err().cloned();
            if let Ok(set) = outcome {
                *me.keys.write() = Arc::new(set);
                return Ok(());
            }
            Err(attempts.failure.clone().unwrap_or_else(|| {
                Rejection::Unavailable(Unavailable::new("JWK Set fetch failed"))
            }))
        })
        .await
        .unwrap_or_else(|_| {
            Err(Rejection::Unavailable(Unavailable::new(
                "JWK Set fetch failed",
            )))
        })
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
                    Rejection::Unavailable(Unavailable::new(format!(
                        "{} publishes no jwks_uri",
                        self.issuer()
                    )))
                })?,
        };
        ctx.counters.jwks_fetch();
        let unavailable = |e: String| {
            tracing::warn!(jwks_uri = %uri, reason = %e, "JWK Set unavailable");
            Rejection::Unavailable(Unavailable::new(format!("JWKS {uri}: {e}")))
        };
        let response = ctx
            .http
            .get(&uri)
            .header("accept", "application/json")
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| {
                tracing::warn!(jwks_uri = %uri, error = %e, "JWK Set unavailable");
                Rejection::Unavailable(Unavailable::caused_by(format!("JWKS {uri}"), e))
            })?;
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

    // Which members may verify is `mcp_oauth_core::jose`'s rule (tested
    // there); this verifier also needs a `kid` to file a key under.
    #[test]
    fn keys_not_meant_for_verification_or_without_kid_are_left_out() {
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
