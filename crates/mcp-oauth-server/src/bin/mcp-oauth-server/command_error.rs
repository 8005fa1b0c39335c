//! What an admin subcommand reports when it fails.

use std::path::PathBuf;

use mcp_oauth_core::secret::RandomnessError;
use mcp_oauth_server::admin::UserError;
use mcp_oauth_server::storage::StorageError;

use crate::secret_files::SecretFileError;

/// An admin subcommand failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A user could not be saved.
    #[error(transparent)]
    User(#[from] UserError),
    /// No secret could be generated.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// A password file could not be used.
    #[error(transparent)]
    SecretFile(#[from] SecretFileError),
    /// No such user.
    #[error("no user {0}")]
    NoUser(String),
    /// No such client.
    #[error("no client {0}")]
    NoClient(String),
    /// A client id already taken.
    #[error("a client {0} already exists")]
    ClientExists(String),
    /// `--grant` names a grant a trusted client cannot have.
    #[error(
        "--grant {0}: use authorization_code, refresh_token, device_code, client_credentials or token_exchange"
    )]
    Grant(String),
    /// `--public` and `--auth` together.
    #[error("--public and --auth go separately")]
    PublicWithAuth,
    /// The JWK Set file could not be read.
    #[error("{}", .path.display())]
    JwksRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JWK Set file is not JSON.
    #[error("{}", .path.display())]
    JwksParse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The client is refused (the library's check reports it as text).
    #[error("{0}")]
    InvalidClient(String),
    /// `rotate-secret` on a client that has no secret to rotate.
    #[error("{0} is not a trusted client with a secret (created by `client add`)")]
    NoSecretToRotate(String),
    /// The token could not be read from standard input.
    #[error("reading the token")]
    ReadToken(#[source] std::io::Error),
    /// The token is not one this server issued (or it expired).
    #[error("unknown token (not issued by this server, or expired)")]
    UnknownToken,
    /// `key retire` of the active key.
    #[error("{0} is the active signing key: run `key rotate` first, then retire it")]
    ActiveKey(String),
    /// `key retire` of an unknown key.
    #[error("no signing key {0}")]
    NoKey(String),
    /// `grant revoke` without `--user` or `--client`.
    #[error("name a user (--user) or a client (--client): revoking every grant is refused")]
    GrantTooBroad,
    /// A revocation failed otherwise.
    #[error("{0}")]
    Account(String),
    /// `--since` is neither epoch seconds nor an age.
    #[error("--since {0}: give seconds since the epoch, or an age such as 30m, 12h or 7d")]
    Since(String),
    /// A client could not be shown as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}
