//! The UserInfo answer (OIDC Core 1.0 §5.3): for a live access token this
//! server issued with scope `openid`, the person's `sub` and the
//! `profile` and `email` claims the token's scope grants and this server
//! knows.

use serde_json::{Map, Value};

use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::token::AccessTokenClaims;

use super::OPENID_SCOPE;
use super::claims::person_claims;
use crate::oauth::grants::introspection::live;
use crate::storage::{Storage, StorageError};

/// Why `/userinfo` refuses a request (RFC 6750 §3.1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UserinfoError {
    /// No bearer token was presented.
    #[error("no access token was presented")]
    MissingToken,
    /// The token is not a live access token of this server.
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    /// The token was not granted `openid`.
    #[error("the access token was not granted the openid scope")]
    InsufficientScope,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The UserInfo claims for a bearer token whose verified claims (when it
/// is an access token this server issued, signature and lifetime checked)
/// are `verified`; `presented` says whether a token was sent at all.
pub(crate) async fn userinfo(
    storage: &dyn Storage,
    presented: bool,
    verified: Option<AccessTokenClaims>,
) -> Result<Map<String, Value>, UserinfoError> {
    if !presented {
        return Err(UserinfoError::MissingToken);
    }
    let claims = verified.ok_or(UserinfoError::InvalidToken)?;
    if !live(storage, &claims).await? {
        return Err(UserinfoError::InvalidToken);
    }
    let scope = claims.scope.clone().unwrap_or_else(ScopeSet::default);
    if !scope.contains(OPENID_SCOPE) {
        return Err(UserinfoError::InsufficientScope);
    }
    let mut out = Map::new();
    out.insert("sub".to_owned(), Value::String(claims.sub.clone()));
    out.extend(person_claims(storage, &claims.sub, &scope).await?);
    Ok(out)
}
