//! RFC 7662 introspection: the resource server authenticates to the AS and
//! asks about each new token. Active answers are cached for the configured
//! time at most (and never past the token's `exp`), inactive ones briefly.
//! Concurrent requests with the same new token share one call.
//!
//! The call belongs to the request that started it: if that request goes
//! away (the client disconnected), the call is dropped with it, its entry
//! leaves the in-flight map (a drop guard, so no path can skip it), and a
//! request that was waiting for it makes the call itself. The map is
//! bounded; past the bound new tokens are answered 503 until calls finish.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::secret::ClientSecret;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::watch;

use crate::cache::{TokenCache, Verdict};
use crate::claims::Rejection;
use crate::fetch::json_body;
use crate::jwt::claims_from_map;
use crate::now;
use crate::stats::Counters;
use crate::unavailable::Unavailable;

/// Most introspection calls in flight at once.
pub(crate) const MAX_IN_FLIGHT: usize = 4096;

/// Whether the verifier may send its credentials and the caller's token to
/// `endpoint`: over https, or plain http to a loopback address only (a
/// development server on the same machine).
pub(crate) fn secure_endpoint(endpoint: &str) -> bool {
    match url::Url::parse(endpoint) {
        Ok(u) if u.scheme() == "https" => true,
        Ok(u) => mcp_oauth_core::redirect::is_loopback(&u),
        Err(_) => false,
    }
}
/// How long an inactive answer is kept.
const INACTIVE_TTL: Duration = Duration::from_secs(10);

/// A call in flight: an id (so a guard removes only its own entry) and
/// where its verdict will appear.
type InFlight = (u64, watch::Receiver<Option<Verdict>>);

/// What a request does about a token not in the cache.
enum Role<'a> {
    /// Makes the call; the guard removes the entry however the call ends.
    Leader(watch::Sender<Option<Verdict>>, InFlightGuard<'a>),
    /// Waits for the leader's verdict.
    Follower(watch::Receiver<Option<Verdict>>),
}

/// Removes a call's in-flight entry when dropped.
struct InFlightGuard<'a> {
    map: &'a Mutex<HashMap<String, InFlight>>,
    key: String,
    id: u64,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.map.lock();
        if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            map.remove(&self.key);
        }
    }
}

/// What every call needs to know besides the token.
pub(crate) struct CallContext<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) endpoint: &'a str,
    pub(crate) issuers: &'a [String],
    pub(crate) resource: &'a ResourceUri,
    pub(crate) counters: &'a Counters,
}

/// Introspection client state.
pub(crate) struct Introspector {
    client_id: String,
    secret: ClientSecret,
    pub(crate) endpoint: Option<String>,
    validate_resource: bool,
    active_ttl: Duration,
    inflight: Mutex<HashMap<String, InFlight>>,
    next_id: AtomicU64,
}

impl Introspector {
    pub(crate) fn new(
        client_id: String,
        secret: ClientSecret,
        endpoint: Option<String>,
        validate_resource: bool,
        active_ttl: Duration,
    ) -> Self {
        Self {
            client_id,
            secret,
            endpoint,
            validate_resource,
            active_ttl,
            inflight: Mutex::default(),
            next_id: AtomicU64::new(0),
        }
    }

    /// Calls waiting for the authorization server now.
    pub(crate) fn in_flight(&self) -> usize {
        self.inflight.lock().len()
    }

    /// The verdict on `token` (whose cache key is `key`): from the cache, a
    /// call in flight, or a new call.
    pub(crate) async fn check(
        &self,
        ctx: &CallContext<'_>,
        cache: &TokenCache,
        token: &str,
        key: &str,
    ) -> Verdict {
        loop {
            if let Some(hit) = cache.get(key) {
                return hit;
            }
            match self.role(key)? {
                Role::Leader(tx, guard) => {
                    let verdict = self.call(ctx, token).await;
                    cache.insert(key.to_owned(), verdict.clone(), self.ttl(&verdict));
                    tx.send_replace(Some(verdict.clone()));
                    drop(guard);
                    return verdict;
                }
                Role::Follower(mut rx) => {
                    if let Ok(v) = rx.wait_for(Option::is_some).await
                        && let Some(verdict) = v.clone()
                    {
                        return verdict;
                    }
                    // The leader went away without a verdict: try again.
                }
            }
        }
    }

    fn role(&self, key: &str) -> Result<Role<'_>, Rejection> {
        let mut map = self.inflight.lock();
        if let Some((_, rx)) = map.get(key) {
            return Ok(Role::Follower(rx.clone()));
        }
        if map.len() >= MAX_IN_FLIGHT {
            tracing::warn!(
                limit = MAX_IN_FLIGHT,
                "too many introspection calls in flight; refusing new tokens"
            );
            return Err(Rejection::Unavailable(Unavailable::new(
                "too many token checks in flight",
            )));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        map.insert(key.to_owned(), (id, rx));
        Ok(Role::Leader(
            tx,
            InFlightGuard {
                map: &self.inflight,
                key: key.to_owned(),
                id,
            },
        ))
    }

    /// How long a verdict is kept: active ones until `exp`, at most the
    /// configured time; inactive ones briefly; failures to ask not at all.
    fn ttl(&self, verdict: &Verdict) -> Duration {
        match verdict {
            Ok(c) if c.expires_at == 0 => self.active_ttl,
            Ok(c) => self
                .active_ttl
                .min(Duration::from_secs(c.expires_at.saturating_sub(now()))),
            Err(Rejection::InvalidToken(_)) => INACTIVE_TTL,
            Err(_) => Duration::ZERO,
        }
    }

    async fn call(&self, ctx: &CallContext<'_>, token: &str) -> Verdict {
        ctx.counters.introspection();
        let response = ctx
            .http
            .post(ctx.endpoint)
            .basic_auth(&self.client_id, Some(self.secret.secret()))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| Rejection::Unavailable(Unavailable::caused_by("introspection", e)))?;
        if !response.status().is_success() {
            let status = response.status();
            tracing::error!(%status, "introspection refused: check the resource server's credentials");
            return Err(Rejection::Unavailable(Unavailable::new(format!(
                "introspection answered HTTP {status}"
            ))));
        }
        let body: BTreeMap<String, Value> = json_body(response).await.map_err(|e| {
            Rejection::Unavailable(Unavailable::new(format!("introspection response: {e}")))
        })?;
        let active = matches!(body.get("active"), Some(Value::Bool(true)))
            || matches!(body.get("active"), Some(Value::String(s)) if s == "true");
        if !active {
            return Err(Rejection::InvalidToken("token is not active".into()));
        }
        if !is_access_token(body.get("token_type")) {
            return Err(Rejection::InvalidToken(
                "not an access token (introspection token_type)".into(),
            ));
        }
        if let Some(iss) = body.get("iss").and_then(Value::as_str)
            && !ctx.issuers.iter().any(|i| i == iss)
        {
            return Err(Rejection::InvalidToken(
                "token from an issuer this resource does not trust".into(),
            ));
        }
        let claims = claims_from_map(body, ctx.resource, self.validate_resource)?;
        if claims.expires_at != 0 && claims.expires_at <= now() {
            return Err(Rejection::InvalidToken("token expired".into()));
        }
        Ok(Arc::new(claims))
    }
}

/// An introspection answer's `token_type` allows use as a bearer access
/// token: absent, `Bearer` or `access_token` (any case). A refresh token,
/// a DPoP-bound token or anything else is refused.
fn is_access_token(token_type: Option<&Value>) -> bool {
    match token_type {
        None => true,
        Some(Value::String(t)) => {
            t.eq_ignore_ascii_case("bearer") || t.eq_ignore_ascii_case("access_token")
        }
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_in_flight_map_is_bounded_and_emptied_by_its_guards() {
        let intro = Introspector::new(
            "rs".into(),
            ClientSecret::new("s"),
            None,
            true,
            Duration::from_secs(30),
        );
        let mut leaders = Vec::new();
        for i in 0..MAX_IN_FLIGHT {
            match intro.role(&format!("t{i}")) {
                Ok(Role::Leader(tx, guard)) => leaders.push((tx, guard)),
                _ => panic!("token {i} should lead its own call"),
            }
        }
        assert!(matches!(intro.role("t0"), Ok(Role::Follower(_))));
        assert!(matches!(
            intro.role("one-more"),
            Err(Rejection::Unavailable(_))
        ));
        assert_eq!(intro.in_flight(), MAX_IN_FLIGHT);
        drop(leaders); // every call abandoned
        assert_eq!(intro.in_flight(), 0);
        assert!(matches!(intro.role("one-more"), Ok(Role::Leader(..))));
    }

    #[test]
    fn only_bearer_access_tokens_pass_the_token_type_check() {
        for ok in [
            None,
            Some(json!("Bearer")),
            Some(json!("bearer")),
            Some(json!("ACCESS_TOKEN")),
        ] {
            assert!(is_access_token(ok.as_ref()), "{ok:?}");
        }
        for bad in [
            json!("refresh_token"),
            json!("Refresh_Token"),
            json!("DPoP"),
            json!("N_A"),
            json!("id_token"),
            json!(""),
            json!(null),
            json!(1),
            json!(["Bearer"]),
        ] {
            assert!(!is_access_token(Some(&bad)), "{bad}");
        }
    }
}
