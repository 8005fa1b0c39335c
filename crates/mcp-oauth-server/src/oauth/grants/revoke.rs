//! Token revocation (RFC 7009): an access token is revoked by its `jti`
//! until it expires, a refresh token with its whole family.

use mcp_oauth_core::secret::token_hash;
use mcp_oauth_core::token::AccessTokenClaims;

use crate::storage::{Storage, StorageError};

/// What a revocation revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revoked {
    /// An access token, by `jti`.
    AccessToken {
        /// The client it belonged to.
        client_id: String,
    },
    /// A refresh token's whole family.
    RefreshFamily {
        /// The client it belonged to.
        client_id: String,
    },
    /// Nothing: unknown token, or owned by another client than `owner`.
    Nothing,
}

/// Revokes `token`: `verified` holds its claims when it is an access token
/// this server issued (checked by the caller), otherwise it is looked up as
/// a refresh token. With `owner`, only that client's tokens are touched.
pub(crate) async fn revoke(
    storage: &dyn Storage,
    verified: Option<AccessTokenClaims>,
    token: &str,
    owner: Option<&str>,
    now: u64,
) -> Result<Revoked, StorageError> {
    let owned = |client_id: &str| owner.is_none_or(|o| o == client_id);
    if let Some(claims) = verified {
        if !owned(&claims.client_id) {
            return Ok(Revoked::Nothing);
        }
        storage.revoke_jti(&claims.jti, claims.exp).await?;
        return Ok(Revoked::AccessToken {
            client_id: claims.client_id,
        });
    }
    match storage.refresh(&token_hash(token)).await? {
        Some(r) if owned(&r.client_id) => {
            storage.revoke_family(&r.family_id, now).await?;
            Ok(Revoked::RefreshFamily {
                client_id: r.client_id,
            })
        }
        _ => Ok(Revoked::Nothing),
    }
}
