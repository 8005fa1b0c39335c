//! Signing keys, as the operator sees them (never the private key). The
//! `key list` subcommand and `GET /admin/v1/keys` both call these;
//! rotation is [`AuthServer::rotate_signing_key`](crate::AuthServer::rotate_signing_key).

use serde::Serialize;
use utoipa::ToSchema;

use crate::storage::{SigningKeyRecord, Storage, StorageError};

/// A signing key, without its private part.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[non_exhaustive]
pub struct KeyView {
    /// Key identifier (JWS `kid`).
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// When it was created (seconds since the epoch).
    pub created_at: u64,
    /// When it stopped signing, if it has (it stays published until the
    /// tokens it signed have expired).
    pub retired_at: Option<u64>,
}

impl From<&SigningKeyRecord> for KeyView {
    fn from(k: &SigningKeyRecord) -> Self {
        Self {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            created_at: k.created_at,
            retired_at: k.retired_at,
        }
    }
}

/// Every signing key in storage.
pub async fn list_keys(storage: &dyn Storage) -> Result<Vec<KeyView>, StorageError> {
    Ok(storage
        .signing_keys()
        .await?
        .iter()
        .map(KeyView::from)
        .collect())
}
