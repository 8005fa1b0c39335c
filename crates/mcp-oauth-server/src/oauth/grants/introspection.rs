//! Token introspection (RFC 7662) for the resource servers the operator
//! configured: an access token is active while its signature, lifetime,
//! audience and revocation state all say so.

use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::token::{AccessTokenClaims, Audience};
use serde::Serialize;

use crate::oauth::access_tokens::LiveTokens;
use crate::storage::{Storage, StorageError};

/// Whether a token whose verified claims (when it is an access token this
/// server issued) are `verified` is active for a resource server serving
/// `serves`: not unless the token is for one of its resources, not
/// revoked, and issued after its person's grants, and its grant, were
/// last ended. What it then learns is [`Active`].
pub(crate) async fn introspect(
    storage: &dyn Storage,
    known: &LiveTokens,
    verified: Option<&AccessTokenClaims>,
    serves: &[String],
) -> Result<bool, StorageError> {
    let Some(claims) = verified else {
        return Ok(false);
    };
    Ok(serves_audience(serves, claims) && live_known(storage, known, claims).await?)
}

/// The RFC 7662 answer for an active token, written straight from its
/// claims: the same JSON as
/// [`IntrospectionResponse::from_claims`](mcp_oauth_core::introspection::IntrospectionResponse::from_claims),
/// without copying every claim into it first.
#[derive(Serialize)]
pub(crate) struct Active<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a ScopeSet>,
    client_id: &'a str,
    token_type: &'static str,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    sub: &'a str,
    aud: &'a Audience,
    iss: &'a str,
    jti: &'a str,
    /// The delegation chain of a downscoped token.
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a serde_json::Value>,
}

impl<'a> Active<'a> {
    /// The answer for `claims`.
    pub(crate) fn of(claims: &'a AccessTokenClaims) -> Self {
        Self {
            active: true,
            scope: claims.scope.as_ref(),
            client_id: &claims.client_id,
            token_type: "Bearer",
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf,
            sub: &claims.sub,
            aud: &claims.aud,
            iss: &claims.iss,
            jti: &claims.jti,
            act: claims.extra.get("act"),
        }
    }
}

/// Whether a resource of `serves` is in the token's audience. The common
/// case costs no URL parsing: an audience value equal to a served resource
/// as a string names it (the audience is a canonical resource this server
/// signed; served resources are validated when the client is made); other
/// spellings are compared as RFC 8707 resources.
fn serves_audience(serves: &[String], claims: &AccessTokenClaims) -> bool {
    let audience = claims.aud.values();
    serves.iter().any(|r| audience.iter().any(|a| a == r))
        || serves
            .iter()
            .filter_map(|r| ResourceUri::parse(r).ok())
            .any(|r| claims.aud.contains_resource(&r))
}

/// [`live`], answered from `known` while storage's stamp is the one the
/// answer was looked up under (nothing stored changed since, here or at
/// another instance), else from storage (and kept in `known`).
pub(crate) async fn live_known(
    storage: &dyn Storage,
    known: &LiveTokens,
    claims: &AccessTokenClaims,
) -> Result<bool, StorageError> {
    // Read before storage is asked: a change made meanwhile moves the
    // stamp, so the answer is never kept past it.
    let stamp = storage.data_version();
    if let Some(answer) = known.get(stamp, claims.jti.as_str()) {
        return Ok(answer);
    }
    let answer = live(storage, claims).await?;
    known.insert(stamp, claims.jti.clone(), answer);
    Ok(answer)
}

/// Whether an access token whose signature and lifetime were verified is
/// still live: not revoked, and issued after its person's grants, and its
/// grant, were last ended. Introspection and `/userinfo` both ask.
pub(crate) async fn live(
    storage: &dyn Storage,
    claims: &AccessTokenClaims,
) -> Result<bool, StorageError> {
    if storage.jti_revoked(&claims.jti).await? {
        return Ok(false);
    }
    // A person whose grants were ended (password change, removal, `user
    // revoke`) loses the access tokens issued before that too.
    if storage.subject(&claims.sub).await?.revoked_at >= claims.iat {
        return Ok(false);
    }
    // And a grant revoked by its person or an operator loses the access
    // tokens issued under it before that.
    let audience = claims.aud.values().first().map_or("", String::as_str);
    let revoked = storage
        .grant_revoked_at(&claims.sub, &claims.client_id, audience)
        .await?;
    Ok(revoked < claims.iat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_oauth_core::introspection::IntrospectionResponse;

    #[test]
    fn the_active_answer_is_the_responses_json() {
        let mut claims: AccessTokenClaims = serde_json::from_value(serde_json::json!({
            "iss": "https://as.example", "sub": "alice", "aud": "https://rs.example/mcp",
            "client_id": "c1", "exp": 2000, "iat": 1000, "jti": "j1",
            "auth_time": 990, "email": "a@example.com",
        }))
        .unwrap();
        let json = |c: &AccessTokenClaims| {
            (
                serde_json::to_value(Active::of(c)).unwrap(),
                serde_json::to_value(IntrospectionResponse::from_claims(c)).unwrap(),
            )
        };
        let (ours, theirs) = json(&claims);
        assert_eq!(ours, theirs);
        // With every optional claim: scopes, not-before, an actor chain.
        claims.scope = Some("mcp files:read".parse().unwrap());
        claims.nbf = Some(999);
        claims.extra.insert(
            "act".into(),
            serde_json::json!({"sub": "rs", "act": {"sub": "x"}}),
        );
        let (ours, theirs) = json(&claims);
        assert_eq!(ours, theirs);
        assert_eq!(ours["act"]["act"]["sub"], "x");
    }
}
