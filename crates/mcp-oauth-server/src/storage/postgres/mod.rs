//! PostgreSQL storage: several server instances share one database.
//!
//! Every operation that decides security under concurrency is one atomic
//! statement or one transaction holding a row lock, so two instances racing
//! on the same code or refresh token get exactly the single-instance
//! outcome: a code is consumed once (`UPDATE … WHERE NOT used RETURNING`);
//! a refresh token is rotated under `SELECT … FOR UPDATE`. Migrations run at
//! start under an advisory lock, so instances may start together.

mod account;
mod audit;
mod clients;
mod counters;
mod devices;
mod grants;
mod keys;
mod spend;
mod tls;
mod users;
mod vault;

use deadpool_postgres::{Config, Pool, PoolConfig, Runtime};
use tokio_postgres::NoTls;

use super::StorageError;

/// Schema migrations, applied in order; append, never edit.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE clients (
        client_id TEXT PRIMARY KEY,
        secret_hash TEXT,
        metadata TEXT NOT NULL,
        issued_at BIGINT NOT NULL
    );
    CREATE TABLE codes (
        code_hash TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        used BOOLEAN NOT NULL DEFAULT FALSE,
        issued TEXT,
        expires_at BIGINT NOT NULL
    );
    CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL,
        record TEXT NOT NULL,
        rotated_at BIGINT,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
    CREATE TABLE revoked_families (family_id TEXT PRIMARY KEY, revoked_at BIGINT NOT NULL);
    CREATE TABLE revoked_jtis (jti TEXT PRIMARY KEY, exp BIGINT NOT NULL);
    CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        pkcs8 TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        retired_at BIGINT,
        seq BIGSERIAL
    );
    CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL);
    CREATE TABLE consents (
        subject TEXT NOT NULL,
        client_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        granted_at BIGINT NOT NULL,
                PRIMARY KEY (subject, client_id)
    );
", "
    CREATE TABLE login_failures (key TEXT PRIMARY KEY, count INT NOT NULL, window_start BIGINT NOT NULL);
", "
    CREATE TABLE identities (subject TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at BIGINT NOT NULL);
", "
    ALTER TABLE clients ADD COLUMN policy TEXT;
    ALTER TABLE refresh_tokens ADD COLUMN subject TEXT;
    UPDATE refresh_tokens SET subject = record::json->>'subject';
    ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
    ALTER TABLE refresh_tokens ADD COLUMN successor_sealed TEXT;
    CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
    CREATE TABLE subjects (subject TEXT PRIMARY KEY, generation BIGINT NOT NULL, revoked_at BIGINT NOT NULL);
    DROP TABLE consents;
    CREATE TABLE consents (
        subject TEXT NOT NULL,
        client_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        scope TEXT NOT NULL,
        granted_at BIGINT NOT NULL,
        PRIMARY KEY (subject, client_id, resource)
    );
", "
    ALTER TABLE clients ADD COLUMN used_at BIGINT;
    UPDATE clients SET used_at = issued_at;
    CREATE INDEX clients_unused ON clients (issued_at) WHERE used_at IS NULL;
", "
    CREATE TABLE devices (
        device_code_hash TEXT PRIMARY KEY,
        user_code TEXT NOT NULL UNIQUE,
        expires_at BIGINT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX devices_expiry ON devices (expires_at);
", "
    CREATE TABLE grants (
        subject TEXT NOT NULL,
        client_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        scope TEXT NOT NULL,
        method TEXT NOT NULL,
        device BOOLEAN NOT NULL,
        granted_at BIGINT NOT NULL,
        revoked_at BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (subject, client_id, resource)
    );
    CREATE INDEX grants_client ON grants (client_id);
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        method TEXT NOT NULL,
        auth_time BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        address TEXT
    );
    CREATE INDEX sessions_subject ON sessions (subject);
    CREATE TABLE audit_events (
        id BIGSERIAL PRIMARY KEY,
        at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        actor_user TEXT,
        actor_client TEXT,
        client TEXT,
        address TEXT,
        subject TEXT,
        details TEXT NOT NULL
    );
    CREATE INDEX audit_events_at ON audit_events (at);
", "
    UPDATE signing_keys SET retired_at = created_at
        WHERE retired_at IS NULL AND kid NOT IN
        (SELECT kid FROM signing_keys WHERE retired_at IS NULL
         ORDER BY created_at DESC, seq DESC LIMIT 1);
    CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired_at IS NULL))
        WHERE retired_at IS NULL;
", "
    ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
    UPDATE signing_keys SET activates_at = created_at;
", "
    ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
    ALTER TABLE clients ADD COLUMN last_used_at BIGINT;
    UPDATE clients SET last_used_at = extract(epoch from now())::BIGINT;
", "
    CREATE TABLE upstream_tokens (
        subject TEXT NOT NULL,
        provider TEXT NOT NULL,
        client_id TEXT NOT NULL,
        generation BIGINT NOT NULL,
        sealed TEXT NOT NULL,
        version BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (subject, provider)
    );
    CREATE INDEX upstream_tokens_client ON upstream_tokens (client_id);
"];

/// A lock id for migrations (any constant shared by all instances).
const MIGRATION_LOCK: i64 = 0x6d63_705f_6f61_7574;

/// PostgreSQL-backed storage shared by several server instances.
#[derive(Clone)]
pub struct PostgresStorage {
    pool: Pool,
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user@host:port/db`) with a pool of at
    /// most `max_connections`, and migrates the schema.
    ///
    /// TLS follows the URL's `sslmode` (see the `tls` module): plain when it
    /// is absent or `disable`; with `require`, `verify-full`, `verify-ca`
    /// or `prefer` the server's certificate is verified against the system
    /// roots or `sslrootcert`.
    pub async fn connect(url: &str, max_connections: usize) -> Result<Self, StorageError> {
        let (url, tls) = tls::from_url(url)?;
        let config = Config {
            url: Some(url),
            pool: Some(PoolConfig::new(max_connections.max(1))),
            ..Config::default()
        };
        let pool = match tls {
            Some(tls) => config.create_pool(Some(Runtime::Tokio1), tls),
            None => config.create_pool(Some(Runtime::Tokio1), NoTls),
        }?;
        let storage = Self { pool };
        storage.migrate().await?;
        Ok(storage)
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS mcp_oauth_schema (version INT NOT NULL)")
            .await?;
        let row = tx
            .query_opt("SELECT max(version) FROM mcp_oauth_schema", &[])
            .await?;
        let done = row.and_then(|r| r.get::<_, Option<i32>>(0)).unwrap_or(0);
        let done = usize::try_from(done).unwrap_or(0);
        if done > MIGRATIONS.len() {
            return Err(StorageError::SchemaTooNew {
                found: done,
                known: MIGRATIONS.len(),
            });
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            tx.batch_execute(sql).await?;
            let version = i32::try_from(n + 1).unwrap_or(i32::MAX);
            tx.execute(
                "INSERT INTO mcp_oauth_schema (version) VALUES ($1)",
                &[&version],
            )
            .await?;
        }
        tx.commit().await.map_err(StorageError::from)
    }

    async fn client_conn(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(StorageError::from)
    }
}
