//! What can go wrong in storage.

/// A storage backend failed (I/O, corruption, a lost connection).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The backend could not be reached or failed.
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The record already exists.
    #[error("record already exists")]
    Conflict,
}
