//! SQLite storage: the embedded default. One file holds clients, codes,
//! refresh families, revocations, signing keys and users, so a restart loses
//! nothing. Operations run on a blocking thread against one connection in
//! WAL mode; the connection's lock makes the multi-step operations
//! (`consume_code`, `rotate_refresh`) atomic, and each runs in a transaction.

mod account;
mod audit;
mod clients;
mod counters;
mod devices;
mod grants;
mod keys;
mod spend;
mod users;
mod vault;
#[cfg(unix)]
mod wal_index;

use std::path::Path;

use rusqlite::Connection;

use super::StorageError;

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many ran. Append, never edit.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE clients (
        client_id TEXT PRIMARY KEY,
        secret_hash TEXT,
        metadata TEXT NOT NULL,
        issued_at INTEGER NOT NULL
    );
    CREATE TABLE codes (
        code_hash TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        used INTEGER NOT NULL DEFAULT 0,
        issued TEXT,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL,
        record TEXT NOT NULL,
        rotated_at INTEGER,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
    CREATE TABLE revoked_families (family_id TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);
    CREATE TABLE revoked_jtis (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
    CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        pkcs8 TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        retired_at INTEGER
    );
    CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL);
",
    "
    CREATE TABLE consents (
        subject TEXT NOT NULL,
        client_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        granted_at INTEGER NOT NULL,
                PRIMARY KEY (subject, client_id)
    );
",
    "
    CREATE TABLE login_failures (key TEXT PRIMARY KEY, count INTEGER NOT NULL, window_start INTEGER NOT NULL);
",
    "
    CREATE TABLE identities (subject TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at INTEGER NOT NULL);
",
    // Client trust, never-forking refresh rotation, subject revocation,
    // consent per resource (earlier consents, kept per client only, are
    // dropped: people are asked once more).
    "
    ALTER TABLE clients ADD COLUMN policy TEXT;
    ALTER TABLE refresh_tokens ADD COLUMN subject TEXT;
    UPDATE refresh_tokens SET subject = json_extract(record, '$.subject');
    ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
    ALTER TABLE refresh_tokens ADD COLUMN successor_sealed TEXT;
    CREATE INDEX refresh_tokens_subject ON refresh_tokens(subject);
    CREATE TABLE subjects (subject TEXT PRIMARY KEY, generation INTEGER NOT NULL, revoked_at INTEGER NOT NULL);
    DROP TABLE consents;
    CREATE TABLE consents (
        subject TEXT NOT NULL,
        client_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        scope TEXT NOT NULL,
        granted_at INTEGER NOT NULL,
        PRIMARY KEY (subject, client_id, resource)
    );
",
    // Clients no person has consented to yet (`used_at` NULL) can be
    // purged; every client that exists already counts as used.
    "
    ALTER TABLE clients ADD COLUMN used_at INTEGER;
    UPDATE clients SET used_at = issued_at;
    CREATE INDEX clients_unused ON clients(issued_at) WHERE used_at IS NULL;
",
    // Device authorizations (RFC 8628).
    "
    CREATE TABLE devices (
        device_code_hash TEXT PRIMARY KEY,
        user_code TEXT NOT NULL UNIQUE,
        expires_at INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX devices_expiry ON devices(expires_at);
",
    // Grants people approved, browser sessions, the audit trail.
    "
    CREATE TABLE grants (
        subject TEXT NOT NULL,
        client_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        scope TEXT NOT NULL,
        method TEXT NOT NULL,
        device INTEGER NOT NULL,
        granted_at INTEGER NOT NULL,
        revoked_at INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (subject, client_id, resource)
    );
    CREATE INDEX grants_client ON grants(client_id);
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        method TEXT NOT NULL,
        auth_time INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        address TEXT
    );
    CREATE INDEX sessions_subject ON sessions(subject);
    CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        actor_user TEXT,
        actor_client TEXT,
        client TEXT,
        address TEXT,
        subject TEXT,
        details TEXT NOT NULL
    );
    CREATE INDEX audit_events_at ON audit_events(at);
",
    // At most one active signing key: instances starting together agree on
    // the first one (earlier races could leave several active: the newest
    // stays active).
    "
    UPDATE signing_keys SET retired_at = created_at
        WHERE retired_at IS NULL AND kid NOT IN
        (SELECT kid FROM signing_keys WHERE retired_at IS NULL
         ORDER BY created_at DESC, rowid DESC LIMIT 1);
    CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys((retired_at IS NULL))
        WHERE retired_at IS NULL;
",
    // Keys published ahead of signing: when each starts to sign.
    "
    ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
    UPDATE signing_keys SET activates_at = created_at;
",
    // RFC 7592: the registration access token's hash. The last time a
    // token was issued to a client, for reaping idle registrations; the
    // clients that exist start their idle time now.
    "
    ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
    ALTER TABLE clients ADD COLUMN last_used_at INTEGER;
    UPDATE clients SET last_used_at = CAST(strftime('%s', 'now') AS INTEGER);
",
    // The upstream token vault: sealed tokens per (subject, provider).
    "
    CREATE TABLE upstream_tokens (
        subject TEXT NOT NULL,
        provider TEXT NOT NULL,
        client_id TEXT NOT NULL,
        generation INTEGER NOT NULL,
        sealed TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (subject, provider)
    );
    CREATE INDEX upstream_tokens_client ON upstream_tokens(client_id);
",
];

/// A unit of work for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// SQLite-backed storage in one file, in WAL mode, migrated at open.
///
/// The connection lives on one dedicated thread that runs every query in
/// turn. SQLite serialises writers anyway; one thread also keeps SQLite's
/// own allocations (page cache, statements) in one allocator arena, where
/// a pool of blocking threads spread them over many and the resident
/// memory grew with every thread that ever touched the database.
#[derive(Clone)]
pub struct SqliteStorage {
    jobs: std::sync::mpsc::Sender<Job>,
    /// What reads the stamp of
    /// [`GrantStore::data_version`](super::GrantStore::data_version). None
    /// for an in-memory database (no other connection can change it but
    /// ours, and ours cannot be watched from a second one).
    watch: Option<std::sync::Arc<Watch>>,
}

/// The stamp's readers for a database file.
struct Watch {
    /// A second connection to the file that only reads `PRAGMA
    /// data_version`, which moves whenever another connection (the one of
    /// the thread, another instance's, an operator's) commits; used where
    /// the WAL index cannot be read directly.
    conn: parking_lot::Mutex<Connection>,
    /// The WAL-index header, read without a lock (Unix), when the
    /// database is in WAL mode.
    #[cfg(unix)]
    index: Option<wal_index::WalIndex>,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` and migrates it.
    ///
    /// The file holds the signing keys and password hashes, so it is
    /// created readable by its owner only (0600), before SQLite opens it;
    /// SQLite gives its `-wal` and `-shm` files the same mode. A file that
    /// others could read (made by an older version, or by hand) is
    /// tightened to 0600, with a warning.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref();
        private_file(path)?;
        let mut storage = Self::init(Connection::open(path)?)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Its first statement attaches it to the WAL index; the index is
        // read only if the database really is in WAL mode, next to the path
        // SQLite resolved (not the one given, which may be a link).
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        #[cfg(unix)]
        let index = conn
            .path()
            .filter(|p| mode.eq_ignore_ascii_case("wal") && !p.is_empty())
            .and_then(|p| wal_index::WalIndex::open(Path::new(p)));
        #[cfg(not(unix))]
        let _ = mode;
        storage.watch = Some(std::sync::Arc::new(Watch {
            conn: parking_lot::Mutex::new(conn),
            #[cfg(unix)]
            index,
        }));
        Ok(storage)
    }

    /// A private in-memory database (for tests).
    pub fn in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory()?)
    }

    /// Prepares `conn` and starts its thread.
    fn init(mut conn: Connection) -> Result<Self, StorageError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let done = usize::try_from(version).unwrap_or(0);
        if done > MIGRATIONS.len() {
            return Err(StorageError::SchemaTooNew {
                found: done,
                known: MIGRATIONS.len(),
            });
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(n + 1).unwrap_or(i64::MAX),
            )?;
            tx.commit()?;
        }
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("mcp-oauth-sqlite".into())
            .spawn(move || {
                // Ends, closing the database, when the last handle is dropped.
                for job in queue {
                    job(&mut conn);
                }
            })
            .map_err(StorageError::SqliteThread)?;
        Ok(Self { jobs, watch: None })
    }

    /// The stamp of everything stored: the WAL-index header's (one read,
    /// no lock) where it can be read, else the database's `PRAGMA
    /// data_version` as the watching connection reads it. The two are never
    /// mixed for one storage. None when there is no watching connection or
    /// the read failed (or caught a commit half-way).
    fn read_data_version(&self) -> Option<u64> {
        let watch = self.watch.as_ref()?;
        #[cfg(unix)]
        if let Some(index) = &watch.index {
            return index.stamp();
        }
        let conn = watch.conn.lock();
        conn.prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
            .ok()
            .and_then(|v| u64::try_from(v).ok())
    }

    /// Runs `f` with the connection on the connection's thread.
    async fn with<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |conn: &mut Connection| {
                let _ = reply.send(f(conn));
            }))
            .map_err(|_| StorageError::SqliteStopped)?;
        answer.await.map_err(|_| StorageError::SqliteStopped)?
    }
}

/// Creates `path` (and tightens it and its `-wal`/`-shm` companions) with
/// mode 0600.
#[cfg(unix)]
fn private_file(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    // Created only when missing: opening (and closing) an existing file
    // would drop the POSIX locks SQLite connections of this process hold
    // on it.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(StorageError::File {
                path: path.to_owned(),
                source,
            });
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %file.display(), "the database was readable by others; restricting it to its owner (0600)");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StorageError::File {
                    path: file.clone(),
                    source,
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_file(_: &Path) -> Result<(), StorageError> {
    Ok(())
}
