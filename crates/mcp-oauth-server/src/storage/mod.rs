//! Storage: one async trait per aggregate, several backends.
//!
//! Everything the server must not lose lives behind [`Storage`], the sum of
//! five stores: [`ClientStore`] (registered clients and consents),
//! [`GrantStore`] (authorization codes, refresh-token families, revoked
//! access tokens, subject revocation), [`KeyStore`] (signing keys),
//! [`UserStore`] (users and federated identities) and [`CounterStore`]
//! (the windowed counts behind login and registration throttling). Secrets
//! are stored only as hashes (SHA-256 for 256-bit random tokens, argon2 for
//! passwords).
//!
//! The operations that decide security under concurrency are single calls,
//! so each backend can make them atomic: [`GrantStore::consume_code`] (a
//! code is redeemed once), [`GrantStore::rotate_refresh`] (a refresh token
//! is rotated once, reuse is detected) and [`CounterStore::bump_counter`].

mod codec;
mod error;
mod memory;
pub mod policy;
mod postgres;
mod records;
mod sqlite;
#[cfg(test)]
mod suite;
mod traits;

pub use error::{PostgresTlsError, StorageError};
pub use memory::MemoryStorage;
pub use postgres::PostgresStorage;
pub use records::{
    ClientPolicy, ClientRecord, CodeConsumption, CodeRecord, IdentityRecord, IssuedFromCode,
    RefreshRecord, RefreshRotation, SigningKeyRecord, StoredCode, SubjectState, UserRecord,
};
pub use sqlite::SqliteStorage;
pub use traits::{
    COUNTER_RETENTION, ClientStore, CounterStore, GrantStore, KeyStore, Storage, UserStore,
};

/// Connections a PostgreSQL pool opens at most.
pub const POSTGRES_POOL_SIZE: usize = 16;

/// Opens the storage a specification names: `memory`, `sqlite:PATH` (or a
/// bare path), or `postgres://…` (several instances may share it).
pub async fn open(spec: &str) -> Result<std::sync::Arc<dyn Storage>, StorageError> {
    let spec = spec.trim();
    if spec == "memory" {
        return Ok(std::sync::Arc::new(MemoryStorage::new()));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(
            PostgresStorage::connect(spec, POSTGRES_POOL_SIZE).await?,
        ));
    }
    let path = spec
        .strip_prefix("sqlite://")
        .or_else(|| spec.strip_prefix("sqlite:"))
        .unwrap_or(spec);
    if path.is_empty() {
        return Err(StorageError::EmptyPath);
    }
    Ok(std::sync::Arc::new(SqliteStorage::open(path)?))
}
