//! Signing keys, as the operator sees them (never the private key). The
//! `key list` subcommand and `GET /admin/v1/keys` both call these;
//! rotation is [`AuthServer::rotate_signing_key`](crate::AuthServer::rotate_signing_key).

use serde::Serialize;
use utoipa::ToSchema;

use crate::keys::{is_sealed, signing_kid};
use crate::storage::{SigningKeyRecord, Storage, StorageError};

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyStatus {
    /// Published, waiting for its time to sign.
    Next,
    /// Signs new tokens now.
    Signing,
    /// Signs no more; published until the tokens it signed have expired.
    Retired,
}

impl KeyStatus {
    /// The status as the CLI prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Signing => "signing",
            Self::Retired => "retired",
        }
    }
}

/// A signing key, without its private part.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[non_exhaustive]
pub struct KeyView {
    /// Key identifier (JWS `kid`).
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// When it was created and published (seconds since the epoch).
    pub created_at: u64,
    /// When it starts (or started) to sign.
    pub activates_at: u64,
    /// When it stops (or stopped) signing, if a successor is stored.
    pub retired_at: Option<u64>,
    /// Where it is now.
    pub status: KeyStatus,
    /// Whether the private key is encrypted at rest.
    pub encrypted: bool,
}

impl KeyView {
    fn new(k: &SigningKeyRecord, signing: Option<&str>, now: u64) -> Self {
        let status = if signing == Some(k.kid.as_str()) {
            KeyStatus::Signing
        } else if k.activates_at > now && k.retired_at.is_none_or(|t| t > k.activates_at) {
            KeyStatus::Next
        } else {
            KeyStatus::Retired
        };
        Self {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            created_at: k.created_at,
            activates_at: k.activates_at,
            retired_at: k.retired_at,
            status,
            encrypted: is_sealed(&k.pkcs8),
        }
    }
}

/// Every signing key in storage, newest first, with its status at `now`.
pub async fn list_keys(storage: &dyn Storage, now: u64) -> Result<Vec<KeyView>, StorageError> {
    let records = storage.signing_keys().await?;
    let signing = signing_kid(&records, now);
    Ok(records
        .iter()
        .map(|k| KeyView::new(k, signing.as_deref(), now))
        .collect())
}
