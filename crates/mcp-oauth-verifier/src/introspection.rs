//! RFC 7662 introspection: the resource server authenticates to the AS and
//! asks about each new token. Active answers are cached until the token's
//! `exp` (at most `active_ttl`), inactive ones briefly; the cache is bounded;
//! concurrent requests with the same new token share one call.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::secret::{ClientSecret, token_hash};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::claims::{Claims, Rejection};
use crate::jwt::claims_from_map;
use crate::now;
use mcp_oauth_core::cache::TtlCache;

type Outcome = Result<Claims, Rejection>;

/// Introspection client state.
pub(crate) struct Introspector {
    client_id: String,
    secret: ClientSecret,
    pub(crate) endpoint: Option<String>,
    validate_resource: bool,
    active_ttl: Duration,
    inactive_ttl: Duration,
    cache: TtlCache<Outcome>,
    inflight: Mutex<HashMap<String, Arc<OnceCell<Outcome>>>>,
}

impl Introspector {
    pub(crate) fn new(
        client_id: String,
        secret: ClientSecret,
        endpoint: Option<String>,
        validate_resource: bool,
        capacity: usize,
    ) -> Self {
        Self {
            client_id,
            secret,
            endpoint,
            validate_resource,
            active_ttl: Duration::from_secs(300),
            inactive_ttl: Duration::from_secs(10),
            cache: TtlCache::new(capacity),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict on `token`, from the cache, a call in flight, or a new
    /// call to `endpoint`.
    pub(crate) async fn check(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        token: &str,
        issuers: &[String],
        resource: &ResourceUri,
    ) -> Outcome {
        let key = token_hash(token);
        let t = now();
        if let Some(hit) = self.cache.get(&key, t) {
            return hit;
        }
        let cell = {
            let mut inflight = self.inflight.lock();
            inflight.entry(key.clone()).or_default().clone()
        };
        let outcome = cell
            .get_or_init(|| async {
                let outcome = self.call(http, endpoint, token, issuers, resource).await;
                let t = now();
                let until = match &outcome {
                    Ok(c) if c.expires_at == 0 => t + self.active_ttl.as_secs(),
                    Ok(c) => c.expires_at.min(t + self.active_ttl.as_secs()),
                    Err(Rejection::InvalidToken(_)) => t + self.inactive_ttl.as_secs(),
                    Err(_) => t, // not cached: AS trouble is retried
                };
                self.cache.insert(key.clone(), outcome.clone(), until, t);
                outcome
            })
            .await
            .clone();
        self.inflight.lock().remove(&key);
        outcome
    }

    async fn call(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        token: &str,
        issuers: &[String],
        resource: &ResourceUri,
    ) -> Outcome {
        let response = http
            .post(endpoint)
            .basic_auth(&self.client_id, Some(self.secret.secret()))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| Rejection::Unavailable(format!("introspection: {e}")))?;
        if !response.status().is_success() {
            let status = response.status();
            tracing::error!(%status, "introspection refused: check the resource server's credentials");
            return Err(Rejection::Unavailable(format!(
                "introspection answered HTTP {status}"
            )));
        }
        let body: BTreeMap<String, Value> = response
            .json()
            .await
            .map_err(|e| Rejection::Unavailable(format!("introspection response: {e}")))?;
        let active = matches!(body.get("active"), Some(Value::Bool(true)))
            || matches!(body.get("active"), Some(Value::String(s)) if s == "true");
        if !active {
            return Err(Rejection::InvalidToken("token is not active".into()));
        }
        if let Some(iss) = body.get("iss").and_then(Value::as_str)
            && !issuers.iter().any(|i| i == iss)
        {
            return Err(Rejection::InvalidToken(
                "token from an issuer this resource does not trust".into(),
            ));
        }
        let claims = claims_from_map(body, resource, self.validate_resource)?;
        if claims.expires_at != 0 && claims.expires_at <= now() {
            return Err(Rejection::InvalidToken("token expired".into()));
        }
        Ok(claims)
    }
}
