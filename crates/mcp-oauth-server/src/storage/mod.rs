//! Storage: one async trait per aggregate, several backends.
//!
//! Everything the server must not lose lives behind [`Storage`], the sum of
//! its stores: [`ClientStore`] (registered clients and consents),
//! [`GrantStore`] (authorization codes, refresh-token families, revoked
//! access tokens, subject revocation), [`KeyStore`] (signing keys),
//! [`UserStore`] (users and federated identities), [`CounterStore`]
//! (the windowed counts behind login and registration throttling),
//! [`DeviceStore`] (device authorizations), [`AccountStore`] (what people
//! approved, and their browser sessions), [`AuditStore`] (the durable
//! audit trail) and [`VaultStore`] (people's sealed upstream tokens). Secrets
//! are stored only as hashes (SHA-256 for 256-bit random tokens, argon2 for
//! passwords).
//!
//! The operations that decide security under concurrency are single calls,
//! so each backend can make them atomic: [`GrantStore::consume_code`] (a
//! code is redeemed once), [`GrantStore::rotate_refresh`] (a refresh token
//! is rotated once, reuse is detected) and [`CounterStore::bump_counter`].

mod account;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod codec;
mod error;
mod memory;
pub mod policy;
#[cfg(feature = "postgres")]
mod postgres;
mod records;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(test)]
mod suite;
mod traits;
mod vault;

pub use account::{
    AuditEvent, AuditQuery, Grant, GrantFilter, GrantRecord, SessionRecord, SignInMethod,
};
#[cfg(feature = "postgres")]
pub use error::PostgresTlsError;
pub use error::StorageError;
pub use memory::MemoryStorage;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStorage;
pub use records::{
    ClientPolicy, ClientRecord, CodeConsumption, CodeRecord, DeviceRecord, DeviceState,
    IdentityRecord, IssuedFromCode, RefreshRecord, RefreshRotation, SigningKeyRecord, StoredCode,
    SubjectState, UserRecord,
};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStorage;
pub use traits::{
    AccountStore, AuditStore, COUNTER_RETENTION, ClientStore, CounterStore, DEVICE_RETENTION,
    DeviceStore, GrantStore, KeyStore, Storage, UserStore,
};
pub use vault::{UpstreamTokenRecord, VaultStore};

/// Connections a PostgreSQL pool opens at most.
pub const POSTGRES_POOL_SIZE: usize = 16;

/// Opens the storage a specification names: `memory`, `sqlite:PATH` (or a
/// bare path), or `postgres://…` (several instances may share it).
///
/// A backend this build leaves out (see the crate's features) is
/// [`StorageError::NotCompiled`]:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_oauth_server::storage::StorageError> {
/// use mcp_oauth_server::storage::{self, ClientStore};
///
/// let storage = storage::open("memory").await?;
/// assert_eq!(storage.client_count().await?, 0);
/// # Ok(()) }
/// ```
pub async fn open(spec: &str) -> Result<std::sync::Arc<dyn Storage>, StorageError> {
    let spec = spec.trim();
    if spec == "memory" {
        return Ok(std::sync::Arc::new(MemoryStorage::new()));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return Ok(std::sync::Arc::new(
            PostgresStorage::connect(spec, POSTGRES_POOL_SIZE).await?,
        ));
        #[cfg(not(feature = "postgres"))]
        return Err(StorageError::NotCompiled {
            backend: "PostgreSQL",
            feature: "postgres",
        });
    }
    let path = spec
        .strip_prefix("sqlite://")
        .or_else(|| spec.strip_prefix("sqlite:"))
        .unwrap_or(spec);
    if path.is_empty() {
        return Err(StorageError::EmptyPath);
    }
    #[cfg(feature = "sqlite")]
    return Ok(std::sync::Arc::new(SqliteStorage::open(path)?));
    #[cfg(not(feature = "sqlite"))]
    return Err(StorageError::NotCompiled {
        backend: "SQLite",
        feature: "sqlite",
    });
}
