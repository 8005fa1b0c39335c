//! Operator actions shared by the admin HTTP API (`/admin/v1/…`), the
//! command-line admin subcommands and embedders: users (whose password
//! change or removal ends everything they hold) and subjects' grants here,
//! [`clients`] and [`keys`] beside. Revoking one token is
//! [`AuthServer::revoke_token`](crate::AuthServer::revoke_token).

pub mod clients;
pub mod keys;

use mcp_oauth_core::secret::{Password, RandomnessError, random_base64url};

use crate::password::{PasswordHashError, hash_password};
use crate::storage::{Storage, StorageError, SubjectState, UserRecord};

/// A user could not be saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// The name is not a valid username.
    #[error("{0}")]
    InvalidName(&'static str),
    /// The password could not be hashed.
    #[error(transparent)]
    Hash(#[from] PasswordHashError),
    /// A user of that name exists.
    #[error("a user {0} already exists")]
    Exists(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates a new user; [`UserError::Exists`] when the name is taken,
/// decided atomically in storage (of two concurrent adds of one name, one
/// fails).
pub async fn add_user(
    storage: &dyn Storage,
    username: &str,
    password: &str,
) -> Result<(), UserError> {
    check_username(username).map_err(UserError::InvalidName)?;
    let password_hash = hash_password(password)?;
    let user = UserRecord {
        username: username.to_owned(),
        password_hash,
    };
    match storage.insert_user(user).await {
        Err(StorageError::Conflict) => Err(UserError::Exists(username.to_owned())),
        other => Ok(other?),
    }
}

/// Creates a user or sets a user's password. Changing an existing user's
/// password ends their sessions and grants everywhere (see
/// [`GrantStore::revoke_subject`](crate::storage::GrantStore::revoke_subject)).
/// Each step is one atomic write, so a concurrent add or removal of the
/// same name cannot leave a changed password with live grants. Returns
/// whether the user existed.
pub async fn set_password(
    storage: &dyn Storage,
    username: &str,
    password: &str,
    now: u64,
) -> Result<bool, UserError> {
    check_username(username).map_err(UserError::InvalidName)?;
    let password_hash = hash_password(password)?;
    let user = UserRecord {
        username: username.to_owned(),
        password_hash,
    };
    // Two rounds at most: a user removed between the failed insert and
    // the update is created by the second insert.
    for _ in 0..2 {
        match storage.insert_user(user.clone()).await {
            Ok(()) => return Ok(false),
            Err(StorageError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
        if storage
            .update_password(username, &user.password_hash)
            .await?
        {
            storage.revoke_subject(username, now).await?;
            return Ok(true);
        }
    }
    Err(UserError::Storage(StorageError::Conflict))
}

/// Sets an existing user's password, ending their sessions and grants;
/// returns false (and changes nothing) when there is no such user, also
/// when it was removed a moment before.
pub async fn change_password(
    storage: &dyn Storage,
    username: &str,
    password: &str,
    now: u64,
) -> Result<bool, UserError> {
    check_username(username).map_err(UserError::InvalidName)?;
    let password_hash = hash_password(password)?;
    if !storage.update_password(username, &password_hash).await? {
        return Ok(false);
    }
    storage.revoke_subject(username, now).await?;
    Ok(true)
}

/// Removes a user and ends their sessions and grants, so that neither the
/// user nor someone later created under the same name inherits them.
/// Returns whether the user existed.
pub async fn remove_user(
    storage: &dyn Storage,
    username: &str,
    now: u64,
) -> Result<bool, StorageError> {
    let existed = storage.delete_user(username).await?;
    if existed {
        storage.revoke_subject(username, now).await?;
    }
    Ok(existed)
}

/// Ends everything a subject (a local user, or a federated person's
/// `provider:subject`) holds: sessions, refresh families, pending codes,
/// and (for introspection) the access tokens issued so far. They must sign
/// in again.
pub async fn revoke_subject(
    storage: &dyn Storage,
    subject: &str,
    now: u64,
) -> Result<SubjectState, StorageError> {
    storage.revoke_subject(subject, now).await
}

/// A password for a user when the operator gives none: 144 random bits,
/// base64url (24 characters).
pub fn generate_password() -> Result<Password, RandomnessError> {
    random_base64url(18).map(Password::new)
}

/// Every local user's name.
pub async fn list_users(storage: &dyn Storage) -> Result<Vec<String>, StorageError> {
    Ok(storage
        .users()
        .await?
        .into_iter()
        .map(|u| u.username)
        .collect())
}

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
