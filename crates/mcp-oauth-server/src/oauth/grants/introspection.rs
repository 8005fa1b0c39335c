//! Token introspection (RFC 7662) for the resource servers the operator
//! configured: an access token is active while its signature, lifetime,
//! audience and revocation state all say so.

use mcp_oauth_core::introspection::IntrospectionResponse;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::token::AccessTokenClaims;

use crate::oauth::access_tokens::LiveTokens;
use crate::storage::{Storage, StorageError};

/// What a resource server serving `serves` learns of a token whose
/// verified claims (when it is an access token this server issued) are
/// `verified`: inactive unless the token is for one of its resources, not
/// revoked, and issued after its person's grants, and its grant, were
/// last ended.
pub(crate) async fn introspect(
    storage: &dyn Storage,
    known: &LiveTokens,
    verified: Option<&AccessTokenClaims>,
    serves: &[String],
) -> Result<IntrospectionResponse, StorageError> {
    let Some(claims) = verified else {
        return Ok(IntrospectionResponse::inactive());
    };
    let ours = serves_audience(serves, claims);
    if !ours || !live_known(storage, known, claims).await? {
        return Ok(IntrospectionResponse::inactive());
    }
    Ok(IntrospectionResponse::from_claims(claims))
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
