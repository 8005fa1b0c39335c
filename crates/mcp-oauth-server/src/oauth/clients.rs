//! Looking clients up: the ones of the configuration, registered ones, and
//! those a Client ID Metadata Document describes.

use crate::storage::StorageError;

/// A client could not be looked up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientLookupError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The client's metadata document could not be used.
    #[error(transparent)]
    Metadata(#[from] crate::cimd::CimdError),
    /// The caller's address has named too many new metadata documents
    /// lately; each costs an outbound fetch.
    #[error("too many new client metadata documents from this address; retry in {retry_after} s")]
    Throttled {
        /// Seconds until the address may name new documents again.
        retry_after: u64,
    },
}
