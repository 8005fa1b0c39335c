//! Operator actions shared by the `/revoke` endpoint and the command-line
//! admin subcommands.

use mcp_oauth_core::secret::token_hash;

use crate::app::AppState;
use crate::storage::StorageError;

/// Checks a local username: 1 to 128 characters, no control characters,
/// and no `:`, which is kept for federated subjects (`{provider}:{sub}`) so
/// that a local account can never be mistaken for an upstream one.
pub fn check_username(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err("a username has 1 to 128 characters");
    }
    if name.contains(':') || name.chars().any(char::is_control) {
        return Err("a username may not contain ':' or control characters");
    }
    Ok(())
}

/// What [`revoke_token`] revoked.
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

/// Revokes an access token (by `jti`, until it expires) or a refresh token
/// (its whole family). With `owner`, only that client's tokens are touched.
pub async fn revoke_token(
    state: &AppState,
    token: &str,
    owner: Option<&str>,
) -> Result<Revoked, StorageError> {
    let owned = |client_id: &str| owner.is_none_or(|o| o == client_id);
    if let Some(claims) = state.verify_access_token(token).await {
        if !owned(&claims.client_id) {
            return Ok(Revoked::Nothing);
        }
        state.storage.revoke_jti(&claims.jti, claims.exp).await?;
        return Ok(Revoked::AccessToken {
            client_id: claims.client_id,
        });
    }
    match state.storage.refresh(&token_hash(token)).await? {
        Some(r) if owned(&r.client_id) => {
            state.storage.revoke_family(&r.family_id).await?;
            Ok(Revoked::RefreshFamily {
                client_id: r.client_id,
            })
        }
        _ => Ok(Revoked::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::check_username;

    #[test]
    fn usernames_cannot_look_like_federated_subjects() {
        assert!(check_username("alice").is_ok());
        assert!(check_username("alice@example.com").is_ok());
        assert!(check_username(&"é".repeat(128)).is_ok());
        for bad in ["", "corp:alice", ":", "alice\n", "tab\there"] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        assert!(check_username(&"a".repeat(129)).is_err());
    }
}
