//! SQLite storage: the embedded default. One file holds clients, codes,
//! refresh families, revocations, signing keys and users, so a restart loses
//! nothing. Operations run on a blocking thread against one connection in
//! WAL mode; the connection's lock makes the multi-step operations
//! (`consume_code`, `rotate_refresh`) atomic, and each runs in a transaction.

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::codec::{backend, from_json, i, policy_from, policy_json, refresh_from, to_json, u};
use super::policy::{Rotation, rotation};
use super::{
    ClientRecord, ClientStore, CodeConsumption, CodeRecord, CounterStore, GrantStore,
    IdentityRecord, IssuedFromCode, KeyStore, RefreshRecord, RefreshRotation, SigningKeyRecord,
    StorageError, StoredCode, SubjectState, UserRecord, UserStore,
};

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
        Self::init(Connection::open(path).map_err(backend)?)
    }

    /// A private in-memory database (for tests).
    pub fn in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(mut conn: Connection) -> Result<Self, StorageError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(backend)?;
        let done = usize::try_from(version).unwrap_or(0);
        if done > MIGRATIONS.len() {
            return Err(StorageError::Backend(format!(
                "database schema version {done} is newer than this server knows ({})",
                MIGRATIONS.len()
            )));
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(n + 1).unwrap_or(i64::MAX),
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
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
            .map_err(backend)?;
        Ok(Self { jobs })
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
            .map_err(|_| backend("the SQLite thread has stopped"))?;
        answer
            .await
            .map_err(|_| backend("the SQLite thread has stopped"))?
    }
}

type ClientRow = (String, Option<String>, String, i64, Option<String>);

const CLIENT_COLUMNS: &str = "client_id, secret_hash, metadata, issued_at, policy";

fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn client_from(row: ClientRow) -> Result<ClientRecord, StorageError> {
    Ok(ClientRecord {
        client_id: row.0,
        secret_hash: row.1,
        metadata: from_json(&row.2)?,
        issued_at: u(row.3),
        policy: policy_from(row.4.as_deref())?,
    })
}

#[async_trait]
impl ClientStore for SqliteStorage {
    async fn insert_client(&self, client: ClientRecord) -> Result<(), StorageError> {
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO clients (client_id, secret_hash, metadata, issued_at, policy, used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![client.client_id, client.secret_hash, to_json(&client.metadata)?, i(client.issued_at), policy_json(&client.policy)?, client.policy.trusted.then(|| i(client.issued_at))],
                )
                .map_err(backend)?;
            if n == 0 { Err(StorageError::Conflict) } else { Ok(()) }
        })
        .await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StorageError> {
        let id = client_id.to_owned();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?1"
            ))
            .and_then(|mut s| s.query_row([id], client_row).optional())
            .map_err(backend)?
            .map(client_from)
            .transpose()
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StorageError> {
        let id = client_id.to_owned();
        self.with(move |c| {
            let tx = c.transaction().map_err(backend)?;
            tx.execute("DELETE FROM consents WHERE client_id = ?1", [&id])
                .map_err(backend)?;
            let n = tx
                .execute("DELETE FROM clients WHERE client_id = ?1", [&id])
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY issued_at, client_id"
                ))
                .map_err(backend)?;
            let rows = stmt.query_map([], client_row).map_err(backend)?;
            rows.map(|r| client_from(r.map_err(backend)?)).collect()
        })
        .await
    }

    async fn client_count(&self) -> Result<usize, StorageError> {
        self.with(|c| {
            let n: i64 = c
                .query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0))
                .map_err(backend)?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn update_client(&self, client: ClientRecord) -> Result<bool, StorageError> {
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE clients SET secret_hash = ?2, metadata = ?3, policy = ?4,
                     used_at = CASE WHEN ?5 THEN coalesce(used_at, issued_at) ELSE used_at END
                     WHERE client_id = ?1",
                    params![
                        client.client_id,
                        client.secret_hash,
                        to_json(&client.metadata)?,
                        policy_json(&client.policy)?,
                        client.policy.trusted
                    ],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn purge_unused_clients(
        &self,
        issued_before: u64,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let tx = c.transaction().map_err(backend)?;
            tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS purged (client_id TEXT PRIMARY KEY)",
                [],
            )
            .map_err(backend)?;
            tx.execute("DELETE FROM purged", []).map_err(backend)?;
            tx.execute(
                "INSERT INTO purged SELECT client_id FROM clients
                 WHERE used_at IS NULL AND issued_at < ?1 ORDER BY issued_at LIMIT ?2",
                params![i(issued_before), limit],
            )
            .map_err(backend)?;
            tx.execute(
                "DELETE FROM consents WHERE client_id IN (SELECT client_id FROM purged)",
                [],
            )
            .map_err(backend)?;
            let n = tx
                .execute(
                    "DELETE FROM clients WHERE client_id IN (SELECT client_id FROM purged)",
                    [],
                )
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(n)
        })
        .await
    }

    async fn consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<String>, StorageError> {
        let (s, c, r) = (
            subject.to_owned(),
            client_id.to_owned(),
            resource.to_owned(),
        );
        self.with(move |conn| {
            conn.query_row(
                "SELECT scope FROM consents WHERE subject = ?1 AND client_id = ?2 AND resource = ?3",
                [s, c, r],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
    ) -> Result<(), StorageError> {
        let (s, c, r, sc) = (
            subject.to_owned(),
            client_id.to_owned(),
            resource.to_owned(),
            scope.to_owned(),
        );
        self.with(move |conn| {
            let now = i(crate::app::now());
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                "INSERT INTO consents (subject, client_id, resource, scope, granted_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(subject, client_id, resource) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                params![s, c, r, sc, now],
            )
            .map_err(backend)?;
            tx.execute(
                "UPDATE clients SET used_at = ?2 WHERE client_id = ?1 AND used_at IS NULL",
                params![c, now],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl GrantStore for SqliteStorage {
    async fn insert_code(&self, code: CodeRecord) -> Result<(), StorageError> {
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO codes (code_hash, record, expires_at) VALUES (?1, ?2, ?3)",
                    params![code.code_hash, to_json(&code)?, i(code.expires_at)],
                )
                .map_err(backend)?;
            if n == 0 { Err(StorageError::Conflict) } else { Ok(()) }
        })
        .await
    }

    async fn code(&self, code_hash: &str) -> Result<Option<StoredCode>, StorageError> {
        let hash = code_hash.to_owned();
        self.with(move |c| {
            let row: Option<(String, i64, Option<String>)> = c
                .query_row(
                    "SELECT record, used, issued FROM codes WHERE code_hash = ?1",
                    [&hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(backend)?;
            row.map(|(record, used, issued)| {
                Ok(StoredCode {
                    record: from_json(&record)?,
                    used: used != 0,
                    issued: issued.as_deref().map(from_json).transpose()?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn consume_code(
        &self,
        code_hash: &str,
        issued: IssuedFromCode,
    ) -> Result<CodeConsumption, StorageError> {
        let hash = code_hash.to_owned();
        let issued = to_json(&issued)?;
        self.with(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let row: Option<(String, i64, Option<String>)> = tx
                .query_row(
                    "SELECT record, used, issued FROM codes WHERE code_hash = ?1",
                    [&hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(backend)?;
            let Some((record, used, recorded)) = row else {
                return Ok(CodeConsumption::Unknown);
            };
            let record: CodeRecord = from_json(&record)?;
            let out = if used != 0 {
                CodeConsumption::Replayed {
                    record,
                    issued: recorded.as_deref().map(from_json).transpose()?,
                }
            } else {
                tx.execute(
                    "UPDATE codes SET used = 1, issued = ?2 WHERE code_hash = ?1",
                    params![hash, issued],
                )
                .map_err(backend)?;
                CodeConsumption::First(record)
            };
            tx.commit().map_err(backend)?;
            Ok(out)
        })
        .await
    }

    async fn insert_refresh(&self, token: RefreshRecord) -> Result<(), StorageError> {
        self.with(move |c| insert_refresh_row(c, &token)).await
    }

    async fn refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StorageError> {
        let hash = token_hash.to_owned();
        self.with(move |c| {
            let row: Option<(String, Option<i64>)> = c
                .query_row(
                    "SELECT record, rotated_at FROM refresh_tokens WHERE token_hash = ?1",
                    [hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            row.map(|(rec, rot)| refresh_from(&rec, rot)).transpose()
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        token_hash: &str,
        successor: RefreshRecord,
        sealed_successor: String,
        now: u64,
        grace: u64,
    ) -> Result<RefreshRotation, StorageError> {
        let hash = token_hash.to_owned();
        self.with(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let row: Option<(String, Option<i64>, i64, Option<String>, i64)> = tx
                .query_row(
                    "SELECT t.record, t.rotated_at,
                            EXISTS(SELECT 1 FROM revoked_families f WHERE f.family_id = t.family_id),
                            t.successor_sealed,
                            EXISTS(SELECT 1 FROM refresh_tokens s WHERE s.token_hash = t.successor_hash
                                   AND s.rotated_at IS NULL AND s.expires_at > ?2)
                     FROM refresh_tokens t WHERE t.token_hash = ?1",
                    params![hash, i(now)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(backend)?;
            let Some((record, rotated_at, revoked, sealed, successor_live)) = row else {
                return Ok(RefreshRotation::Invalid);
            };
            let current = refresh_from(&record, rotated_at)?;
            let out = match rotation(&current, revoked != 0, successor_live != 0, now, grace) {
                Rotation::Invalid => RefreshRotation::Invalid,
                Rotation::Repeat => RefreshRotation::Repeated {
                    record: current,
                    sealed_successor: sealed.unwrap_or_default(),
                },
                Rotation::Reuse => {
                    tx.execute(
                        "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at) VALUES (?1, ?2)",
                        params![current.family_id, i(now)],
                    )
                    .map_err(backend)?;
                    RefreshRotation::Reused(current)
                }
                Rotation::Rotate => {
                    tx.execute(
                        "UPDATE refresh_tokens SET rotated_at = ?2, successor_hash = ?3, successor_sealed = ?4
                         WHERE token_hash = ?1",
                        params![hash, i(now), successor.token_hash, sealed_successor],
                    )
                    .map_err(backend)?;
                    insert_refresh_row(&tx, &successor)?;
                    RefreshRotation::Rotated(current)
                }
            };
            tx.commit().map_err(backend)?;
            Ok(out)
        })
        .await
    }

    async fn revoke_family(&self, family_id: &str) -> Result<(), StorageError> {
        let id = family_id.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at) VALUES (?1, ?2)",
                params![id, i(crate::app::now())],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn family_revoked(&self, family_id: &str) -> Result<bool, StorageError> {
        let id = family_id.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM revoked_families WHERE family_id = ?1)",
                [id],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v != 0)
            .map_err(backend)
        })
        .await
    }

    async fn revoke_jti(&self, jti: &str, exp: u64) -> Result<(), StorageError> {
        let jti = jti.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO revoked_jtis (jti, exp) VALUES (?1, ?2)",
                params![jti, i(exp)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn jti_revoked(&self, jti: &str) -> Result<bool, StorageError> {
        let jti = jti.to_owned();
        self.with(move |c| {
            // Hot path (every introspection): a cached prepared statement.
            c.prepare_cached("SELECT EXISTS(SELECT 1 FROM revoked_jtis WHERE jti = ?1)")
                .and_then(|mut s| s.query_row([jti], |r| r.get::<_, i64>(0)))
                .map(|v| v != 0)
                .map_err(backend)
        })
        .await
    }

    async fn use_once(&self, key: &str, exp: u64) -> Result<bool, StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO revoked_jtis (jti, exp) VALUES (?1, ?2)",
                    params![key, i(exp)],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn subject(&self, subject: &str) -> Result<SubjectState, StorageError> {
        let subject = subject.to_owned();
        self.with(move |c| {
            c.prepare_cached("SELECT generation, revoked_at FROM subjects WHERE subject = ?1")
                .and_then(|mut s| {
                    s.query_row([subject], |r| {
                        Ok(SubjectState {
                            generation: u(r.get(0)?),
                            revoked_at: u(r.get(1)?),
                        })
                    })
                    .optional()
                })
                .map(Option::unwrap_or_default)
                .map_err(backend)
        })
        .await
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<SubjectState, StorageError> {
        let subject = subject.to_owned();
        self.with(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let state = tx
                .query_row(
                    "INSERT INTO subjects (subject, generation, revoked_at) VALUES (?1, 1, ?2)
                     ON CONFLICT(subject) DO UPDATE SET generation = generation + 1, revoked_at = ?2
                     RETURNING generation, revoked_at",
                    params![subject, i(now)],
                    |r| {
                        Ok(SubjectState {
                            generation: u(r.get(0)?),
                            revoked_at: u(r.get(1)?),
                        })
                    },
                )
                .map_err(backend)?;
            tx.execute(
                "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at)
                 SELECT DISTINCT family_id, ?2 FROM refresh_tokens WHERE subject = ?1",
                params![subject, i(now)],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(state)
        })
        .await
    }

    async fn purge_expired_grants(
        &self,
        now: u64,
        code_retention: u64,
    ) -> Result<(), StorageError> {
        self.with(move |c| {
            let tx = c.transaction().map_err(backend)?;
            tx.execute(
                "DELETE FROM codes WHERE expires_at + ?2 <= ?1",
                params![i(now), i(code_retention)],
            )
            .map_err(backend)?;
            tx.execute(
                "DELETE FROM refresh_tokens WHERE expires_at <= ?1",
                [i(now)],
            )
            .map_err(backend)?;
            tx.execute(
                "DELETE FROM revoked_families WHERE NOT EXISTS
                 (SELECT 1 FROM refresh_tokens t WHERE t.family_id = revoked_families.family_id)",
                [],
            )
            .map_err(backend)?;
            tx.execute("DELETE FROM revoked_jtis WHERE exp <= ?1", [i(now)])
                .map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl KeyStore for SqliteStorage {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT kid, alg, pkcs8, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, rowid DESC")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(SigningKeyRecord {
                        kid: r.get(0)?,
                        alg: r.get(1)?,
                        pkcs8: r.get(2)?,
                        created_at: u(r.get(3)?),
                        retired_at: r.get::<_, Option<i64>>(4)?.map(u),
                    })
                })
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend)).collect()
        })
        .await
    }

    async fn add_signing_key(&self, key: SigningKeyRecord, now: u64) -> Result<(), StorageError> {
        self.with(move |c| {
            let tx = c.transaction().map_err(backend)?;
            tx.execute("UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL", [i(now)])
                .map_err(backend)?;
            tx.execute(
                "INSERT INTO signing_keys (kid, alg, pkcs8, created_at, retired_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.kid, key.alg, key.pkcs8, i(key.created_at), key.retired_at.map(i)],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl UserStore for SqliteStorage {
    async fn upsert_user(&self, user: UserRecord) -> Result<(), StorageError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO users (username, password_hash) VALUES (?1, ?2)
                 ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash",
                params![user.username, user.password_hash],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StorageError> {
        let name = username.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT username, password_hash FROM users WHERE username = ?1",
                [name],
                |r| {
                    Ok(UserRecord {
                        username: r.get(0)?,
                        password_hash: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StorageError> {
        let name = username.to_owned();
        self.with(move |c| {
            Ok(c.execute("DELETE FROM users WHERE username = ?1", [name])
                .map_err(backend)?
                > 0)
        })
        .await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT username, password_hash FROM users ORDER BY username")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(UserRecord {
                        username: r.get(0)?,
                        password_hash: r.get(1)?,
                    })
                })
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend)).collect()
        })
        .await
    }

    async fn save_identity(&self, identity: IdentityRecord) -> Result<(), StorageError> {
        let record = to_json(&identity)?;
        self.with(move |c| {
            c.execute(
                "INSERT INTO identities (subject, record, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(subject) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
                params![identity.subject, record, i(identity.updated_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn identity(&self, subject: &str) -> Result<Option<IdentityRecord>, StorageError> {
        let subject = subject.to_owned();
        let text: Option<String> = self
            .with(move |c| {
                c.query_row(
                    "SELECT record FROM identities WHERE subject = ?1",
                    [subject],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)
            })
            .await?;
        text.as_deref().map(from_json).transpose()
    }
}

#[async_trait]
impl CounterStore for SqliteStorage {
    async fn bump_counter(
        &self,
        key: &str,
        now: u64,
        window: u64,
    ) -> Result<(u32, u64), StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.query_row(
                "INSERT INTO login_failures (key, count, window_start) VALUES (?1, 1, ?2)
                 ON CONFLICT(key) DO UPDATE SET
                   count = CASE WHEN window_start + ?3 <= ?2 THEN 1 ELSE count + 1 END,
                   window_start = CASE WHEN window_start + ?3 <= ?2 THEN ?2 ELSE window_start END
                 RETURNING count, window_start",
                params![key, i(now), i(window)],
                |r| {
                    Ok((
                        u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                        u(r.get(1)?),
                    ))
                },
            )
            .map_err(backend)
        })
        .await
    }

    async fn counter(&self, key: &str) -> Result<Option<(u32, u64)>, StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT count, window_start FROM login_failures WHERE key = ?1",
                [key],
                |r| {
                    Ok((
                        u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                        u(r.get(1)?),
                    ))
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn release_counter(&self, key: &str) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE login_failures SET count = count - 1 WHERE key = ?1 AND count > 0",
                [key],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn clear_counter(&self, key: &str) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM login_failures WHERE key = ?1", [key])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn purge_counters(&self, now: u64, max_age: u64) -> Result<(), StorageError> {
        self.with(move |c| {
            c.execute(
                "DELETE FROM login_failures WHERE window_start + ?2 <= ?1",
                params![i(now), i(max_age)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

/// Creates `path` (and tightens it and its `-wal`/`-shm` companions) with
/// mode 0600.
#[cfg(unix)]
fn private_file(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(backend)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %file.display(), "the database was readable by others; restricting it to its owner (0600)");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(backend)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_file(_: &Path) -> Result<(), StorageError> {
    Ok(())
}

fn insert_refresh_row(c: &Connection, token: &RefreshRecord) -> Result<(), StorageError> {
    let n = c
        .execute(
            "INSERT OR IGNORE INTO refresh_tokens (token_hash, family_id, record, rotated_at, expires_at, subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                token.token_hash,
                token.family_id,
                to_json(token)?,
                token.rotated_at.map(i),
                i(token.expires_at),
                token.subject
            ],
        )
        .map_err(backend)?;
    if n == 0 {
        Err(StorageError::Conflict)
    } else {
        Ok(())
    }
}
