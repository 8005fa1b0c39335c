//! What can go wrong in storage.

/// A storage operation failed.
///
/// The backend's own error is kept as the [source](std::error::Error::source)
/// (and named in the message), so a lock timeout, a lost connection and a
/// constraint violation stay distinguishable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The record already exists.
    #[error("record already exists")]
    Conflict,
    /// A stored value could not be decoded.
    #[error("stored {what} is corrupt: {source}")]
    Corrupt {
        /// The kind of value.
        what: &'static str,
        /// Why it could not be decoded.
        #[source]
        source: serde_json::Error,
    },
    /// A value could not be encoded for storage.
    #[error("cannot encode {what} for storage: {source}")]
    Encode {
        /// The kind of value.
        what: &'static str,
        /// Why it could not be encoded.
        #[source]
        source: serde_json::Error,
    },
    /// The database's schema is newer than this server: a newer version
    /// migrated it.
    #[error("database schema version {found} is newer than this server knows ({known})")]
    SchemaTooNew {
        /// The database's schema version.
        found: usize,
        /// The newest version this server knows.
        known: usize,
    },
    /// The system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The storage specification names no path (`sqlite:` alone).
    #[error("empty storage path")]
    EmptyPath,
    /// The storage specification names a backend this build leaves out.
    #[error(
        "{backend} storage is not available: this build was made without the `{feature}` feature"
    )]
    NotCompiled {
        /// The backend (`SQLite`, `PostgreSQL`).
        backend: &'static str,
        /// The crate feature that provides it.
        feature: &'static str,
    },
    /// The database file could not be created or made private.
    #[error("database file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[cfg(feature = "sqlite")]
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The thread that owns the SQLite connection could not be started.
    #[cfg(feature = "sqlite")]
    #[error("cannot start the SQLite connection thread: {0}")]
    SqliteThread(#[source] std::io::Error),
    /// The thread that owns the SQLite connection has stopped.
    #[cfg(feature = "sqlite")]
    #[error("the SQLite connection thread has stopped")]
    SqliteStopped,
    /// PostgreSQL failed.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The PostgreSQL connection pool could not be set up.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL pool: {0}")]
    CreatePool(#[from] deadpool_postgres::CreatePoolError),
    /// The PostgreSQL URL or its TLS settings cannot be used.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL TLS: {0}")]
    PostgresTls(#[from] PostgresTlsError),
}

/// The PostgreSQL URL or its TLS settings (`sslmode`, `sslrootcert`)
/// cannot be used.
#[cfg(feature = "postgres")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresTlsError {
    /// The URL does not parse.
    #[error("invalid URL: {0}")]
    Url(#[from] url::ParseError),
    /// `sslmode` has a value libpq does not define.
    #[error("unknown sslmode {0:?}")]
    UnknownMode(String),
    /// The `sslrootcert` file cannot be read as PEM certificates.
    #[error("cannot read the root certificates: {0}")]
    RootFile(#[from] rustls::pki_types::pem::Error),
    /// A root certificate, or the TLS configuration, was refused.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    /// The certificate verifier could not be built.
    #[error("{0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    /// Neither the system nor `sslrootcert` gave a root certificate.
    #[error("no root certificates to verify the server with")]
    NoRoots,
}
