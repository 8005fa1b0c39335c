//! PostgreSQL storage: several server instances share one database.
//!
//! Every operation that decides security under concurrency is one atomic
//! statement or one transaction holding a row lock, so two instances racing
//! on the same code or refresh token get exactly the single-instance
//! outcome: a code is consumed once (`UPDATE … WHERE NOT used RETURNING`);
//! a refresh token is rotated under `SELECT … FOR UPDATE`. Migrations run at
//! start under an advisory lock, so instances may start together.

use async_trait::async_trait;
use deadpool_postgres::{Config, Pool, PoolConfig, Runtime};
use tokio_postgres::NoTls;

use super::codec::{backend, from_json, i, policy_from, policy_json, refresh_from, to_json, u};
use super::policy::{Rotation, rotation};
use super::{
    ClientRecord, ClientStore, CodeConsumption, CodeRecord, CounterStore, GrantStore,
    IdentityRecord, IssuedFromCode, KeyStore, RefreshRecord, RefreshRotation, SigningKeyRecord,
    StorageError, StoredCode, SubjectState, UserRecord, UserStore,
};

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
    /// TLS follows the URL's `sslmode` (see `postgres_tls`): plain when it
    /// is absent or `disable`; with `require`, `verify-full`, `verify-ca`
    /// or `prefer` the server's certificate is verified against the system
    /// roots or `sslrootcert`.
    pub async fn connect(url: &str, max_connections: usize) -> Result<Self, StorageError> {
        let (url, tls) = super::postgres_tls::from_url(url)?;
        let config = Config {
            url: Some(url),
            pool: Some(PoolConfig::new(max_connections.max(1))),
            ..Config::default()
        };
        let pool = match tls {
            Some(tls) => config.create_pool(Some(Runtime::Tokio1), tls),
            None => config.create_pool(Some(Runtime::Tokio1), NoTls),
        }
        .map_err(backend)?;
        let storage = Self { pool };
        storage.migrate().await?;
        Ok(storage)
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        let mut client = self.pool.get().await.map_err(backend)?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(backend)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS mcp_oauth_schema (version INT NOT NULL)")
            .await
            .map_err(backend)?;
        let row = tx
            .query_opt("SELECT max(version) FROM mcp_oauth_schema", &[])
            .await
            .map_err(backend)?;
        let done = row.and_then(|r| r.get::<_, Option<i32>>(0)).unwrap_or(0);
        let done = usize::try_from(done).unwrap_or(0);
        if done > MIGRATIONS.len() {
            return Err(StorageError::Backend(format!(
                "database schema version {done} is newer than this server knows ({})",
                MIGRATIONS.len()
            )));
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            tx.batch_execute(sql).await.map_err(backend)?;
            let version = i32::try_from(n + 1).unwrap_or(i32::MAX);
            tx.execute(
                "INSERT INTO mcp_oauth_schema (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn client_conn(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(backend)
    }
}

const CLIENT_COLUMNS: &str = "client_id, secret_hash, metadata, issued_at, policy";

fn client_from(row: &tokio_postgres::Row) -> Result<ClientRecord, StorageError> {
    Ok(ClientRecord {
        client_id: row.get(0),
        secret_hash: row.get(1),
        metadata: from_json(row.get::<_, &str>(2))?,
        issued_at: u(row.get(3)),
        policy: policy_from(row.get::<_, Option<&str>>(4))?,
    })
}

fn subject_from(row: &tokio_postgres::Row) -> SubjectState {
    SubjectState {
        generation: u(row.get(0)),
        revoked_at: u(row.get(1)),
    }
}

async fn insert_refresh_row(
    c: &impl deadpool_postgres::GenericClient,
    t: &RefreshRecord,
) -> Result<(), StorageError> {
    let n = c
        .execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, record, rotated_at, expires_at, subject)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &t.token_hash,
                &t.family_id,
                &to_json(t)?,
                &t.rotated_at.map(i),
                &i(t.expires_at),
                &t.subject,
            ],
        )
        .await
        .map_err(backend)?;
    if n == 0 {
        Err(StorageError::Conflict)
    } else {
        Ok(())
    }
}

#[async_trait]
impl ClientStore for PostgresStorage {
    async fn insert_client(&self, client: ClientRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO clients (client_id, secret_hash, metadata, issued_at, policy, used_at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT DO NOTHING",
                &[&client.client_id, &client.secret_hash, &to_json(&client.metadata)?, &i(client.issued_at), &policy_json(&client.policy)?, &client.policy.trusted.then(|| i(client.issued_at))],
            )
            .await
            .map_err(backend)?;
        if n == 0 {
            Err(StorageError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StorageError> {
        let c = self.client_conn().await?;
        c.query_opt(
            &format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1"),
            &[&client_id],
        )
        .await
        .map_err(backend)?
        .map(|r| client_from(&r))
        .transpose()
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        tx.execute("DELETE FROM consents WHERE client_id = $1", &[&client_id])
            .await
            .map_err(backend)?;
        let n = tx
            .execute("DELETE FROM clients WHERE client_id = $1", &[&client_id])
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(n > 0)
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StorageError> {
        let c = self.client_conn().await?;
        c.query(
            &format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY issued_at, client_id"),
            &[],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(client_from)
        .collect()
    }

    async fn client_count(&self) -> Result<usize, StorageError> {
        let c = self.client_conn().await?;
        let n: i64 = c
            .query_one("SELECT count(*) FROM clients", &[])
            .await
            .map_err(backend)?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn update_client(&self, client: ClientRecord) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "UPDATE clients SET secret_hash = $2, metadata = $3, policy = $4,
                 used_at = CASE WHEN $5 THEN coalesce(used_at, issued_at) ELSE used_at END
                 WHERE client_id = $1",
                &[
                    &client.client_id,
                    &client.secret_hash,
                    &to_json(&client.metadata)?,
                    &policy_json(&client.policy)?,
                    &client.policy.trusted,
                ],
            )
            .await
            .map_err(backend)?;
        Ok(n > 0)
    }

    async fn purge_unused_clients(
        &self,
        issued_before: u64,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let c = self.client_conn().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // One statement: the rows are locked as they are chosen, and a
        // consent saved meanwhile (which marks the client used) wins.
        let n: i64 = c
            .query_one(
                "WITH purged AS (
                     DELETE FROM clients WHERE client_id IN (
                         SELECT client_id FROM clients
                         WHERE used_at IS NULL AND issued_at < $1
                         ORDER BY issued_at LIMIT $2
                         FOR UPDATE SKIP LOCKED)
                     AND used_at IS NULL
                     RETURNING client_id),
                 consents_gone AS (
                     DELETE FROM consents WHERE client_id IN (SELECT client_id FROM purged))
                 SELECT count(*) FROM purged",
                &[&i(issued_before), &limit],
            )
            .await
            .map_err(backend)?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<String>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            "SELECT scope FROM consents WHERE subject = $1 AND client_id = $2 AND resource = $3",
            &[&subject, &client_id, &resource],
        )
        .await
        .map_err(backend)?
        .map(|r| r.get(0)))
    }

    async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
    ) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "WITH used AS (UPDATE clients SET used_at = $5 WHERE client_id = $2 AND used_at IS NULL)
             INSERT INTO consents (subject, client_id, resource, scope, granted_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (subject, client_id, resource) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
            &[&subject, &client_id, &resource, &scope, &i(crate::app::now())],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl GrantStore for PostgresStorage {
    async fn insert_code(&self, code: CodeRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO codes (code_hash, record, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&code.code_hash, &to_json(&code)?, &i(code.expires_at)],
            )
            .await
            .map_err(backend)?;
        if n == 0 {
            Err(StorageError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn code(&self, code_hash: &str) -> Result<Option<StoredCode>, StorageError> {
        let c = self.client_conn().await?;
        c.query_opt(
            "SELECT record, used, issued FROM codes WHERE code_hash = $1",
            &[&code_hash],
        )
        .await
        .map_err(backend)?
        .map(|row| {
            Ok(StoredCode {
                record: from_json(row.get::<_, &str>(0))?,
                used: row.get(1),
                issued: row.get::<_, Option<&str>>(2).map(from_json).transpose()?,
            })
        })
        .transpose()
    }

    async fn consume_code(
        &self,
        code_hash: &str,
        issued: IssuedFromCode,
    ) -> Result<CodeConsumption, StorageError> {
        let c = self.client_conn().await?;
        // One statement: only one instance can flip `used`, and what the
        // redemption issues is recorded with it.
        if let Some(row) = c
            .query_opt(
                "UPDATE codes SET used = TRUE, issued = $2 WHERE code_hash = $1 AND NOT used RETURNING record",
                &[&code_hash, &to_json(&issued)?],
            )
            .await
            .map_err(backend)?
        {
            return Ok(CodeConsumption::First(from_json(row.get::<_, &str>(0))?));
        }
        match c
            .query_opt(
                "SELECT record, issued FROM codes WHERE code_hash = $1",
                &[&code_hash],
            )
            .await
            .map_err(backend)?
        {
            None => Ok(CodeConsumption::Unknown),
            Some(row) => Ok(CodeConsumption::Replayed {
                record: from_json(row.get::<_, &str>(0))?,
                issued: row.get::<_, Option<&str>>(1).map(from_json).transpose()?,
            }),
        }
    }

    async fn insert_refresh(&self, token: RefreshRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        insert_refresh_row(&c, &token).await
    }

    async fn refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StorageError> {
        let c = self.client_conn().await?;
        c.query_opt(
            "SELECT record, rotated_at FROM refresh_tokens WHERE token_hash = $1",
            &[&token_hash],
        )
        .await
        .map_err(backend)?
        .map(|r| refresh_from(r.get::<_, &str>(0), r.get(1)))
        .transpose()
    }

    async fn rotate_refresh(
        &self,
        token_hash: &str,
        successor: RefreshRecord,
        sealed_successor: String,
        now: u64,
        grace: u64,
    ) -> Result<RefreshRotation, StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // The row lock serializes concurrent rotations of one token.
        let Some(row) = tx
            .query_opt(
                "SELECT record, rotated_at, successor_hash, successor_sealed
                 FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                &[&token_hash],
            )
            .await
            .map_err(backend)?
        else {
            return Ok(RefreshRotation::Invalid);
        };
        let current = refresh_from(row.get::<_, &str>(0), row.get(1))?;
        let successor_hash: Option<String> = row.get(2);
        let sealed: Option<String> = row.get(3);
        let revoked = tx
            .query_opt(
                "SELECT 1 FROM revoked_families WHERE family_id = $1",
                &[&current.family_id],
            )
            .await
            .map_err(backend)?
            .is_some();
        let successor_live = match &successor_hash {
            None => false,
            Some(h) => tx
                .query_opt(
                    "SELECT 1 FROM refresh_tokens WHERE token_hash = $1
                     AND rotated_at IS NULL AND expires_at > $2",
                    &[h, &i(now)],
                )
                .await
                .map_err(backend)?
                .is_some(),
        };
        let out = match rotation(&current, revoked, successor_live, now, grace) {
            Rotation::Invalid => RefreshRotation::Invalid,
            Rotation::Repeat => RefreshRotation::Repeated {
                record: current,
                sealed_successor: sealed.unwrap_or_default(),
            },
            Rotation::Reuse => {
                tx.execute(
                    "INSERT INTO revoked_families (family_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&current.family_id, &i(now)],
                )
                .await
                .map_err(backend)?;
                RefreshRotation::Reused(current)
            }
            Rotation::Rotate => {
                tx.execute(
                    "UPDATE refresh_tokens SET rotated_at = $2, successor_hash = $3, successor_sealed = $4
                     WHERE token_hash = $1",
                    &[&token_hash, &i(now), &successor.token_hash, &sealed_successor],
                )
                .await
                .map_err(backend)?;
                insert_refresh_row(&tx, &successor).await?;
                RefreshRotation::Rotated(current)
            }
        };
        tx.commit().await.map_err(backend)?;
        Ok(out)
    }

    async fn revoke_family(&self, family_id: &str) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "INSERT INTO revoked_families (family_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&family_id, &i(crate::app::now())],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn family_revoked(&self, family_id: &str) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            "SELECT 1 FROM revoked_families WHERE family_id = $1",
            &[&family_id],
        )
        .await
        .map_err(backend)?
        .is_some())
    }

    async fn revoke_jti(&self, jti: &str, exp: u64) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "INSERT INTO revoked_jtis (jti, exp) VALUES ($1, $2) ON CONFLICT (jti) DO UPDATE SET exp = excluded.exp",
            &[&jti, &i(exp)],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn jti_revoked(&self, jti: &str) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        Ok(
            c.query_opt("SELECT 1 FROM revoked_jtis WHERE jti = $1", &[&jti])
                .await
                .map_err(backend)?
                .is_some(),
        )
    }

    async fn use_once(&self, key: &str, exp: u64) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO revoked_jtis (jti, exp) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&key, &i(exp)],
            )
            .await
            .map_err(backend)?;
        Ok(n > 0)
    }

    async fn subject(&self, subject: &str) -> Result<SubjectState, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            "SELECT generation, revoked_at FROM subjects WHERE subject = $1",
            &[&subject],
        )
        .await
        .map_err(backend)?
        .map(|r| subject_from(&r))
        .unwrap_or_default())
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<SubjectState, StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        let row = tx
            .query_one(
                "INSERT INTO subjects (subject, generation, revoked_at) VALUES ($1, 1, $2)
                 ON CONFLICT (subject) DO UPDATE SET generation = subjects.generation + 1, revoked_at = $2
                 RETURNING generation, revoked_at",
                &[&subject, &i(now)],
            )
            .await
            .map_err(backend)?;
        tx.execute(
            "INSERT INTO revoked_families (family_id, revoked_at)
             SELECT DISTINCT family_id, $2::BIGINT FROM refresh_tokens WHERE subject = $1
             ON CONFLICT DO NOTHING",
            &[&subject, &i(now)],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(subject_from(&row))
    }

    async fn purge_expired_grants(
        &self,
        now: u64,
        code_retention: u64,
    ) -> Result<(), StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        tx.execute(
            "DELETE FROM codes WHERE expires_at + $2 <= $1",
            &[&i(now), &i(code_retention)],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
            &[&i(now)],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM revoked_families f WHERE NOT EXISTS
             (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.family_id)",
            &[],
        )
        .await
        .map_err(backend)?;
        tx.execute("DELETE FROM revoked_jtis WHERE exp <= $1", &[&i(now)])
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}

#[async_trait]
impl KeyStore for PostgresStorage {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query(
            "SELECT kid, alg, pkcs8, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, seq DESC",
            &[],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(|r| SigningKeyRecord {
            kid: r.get(0),
            alg: r.get(1),
            pkcs8: r.get(2),
            created_at: u(r.get(3)),
            retired_at: r.get::<_, Option<i64>>(4).map(u),
        })
        .collect())
    }

    async fn add_signing_key(&self, key: SigningKeyRecord, now: u64) -> Result<(), StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        tx.execute(
            "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL",
            &[&i(now)],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO signing_keys (kid, alg, pkcs8, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)",
            &[&key.kid, &key.alg, &key.pkcs8, &i(key.created_at), &key.retired_at.map(i)],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}

#[async_trait]
impl UserStore for PostgresStorage {
    async fn upsert_user(&self, user: UserRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "INSERT INTO users (username, password_hash) VALUES ($1, $2)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
            &[&user.username, &user.password_hash],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            "SELECT username, password_hash FROM users WHERE username = $1",
            &[&username],
        )
        .await
        .map_err(backend)?
        .map(|r| UserRecord {
            username: r.get(0),
            password_hash: r.get(1),
        }))
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        Ok(
            c.execute("DELETE FROM users WHERE username = $1", &[&username])
                .await
                .map_err(backend)?
                > 0,
        )
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query(
            "SELECT username, password_hash FROM users ORDER BY username",
            &[],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(|r| UserRecord {
            username: r.get(0),
            password_hash: r.get(1),
        })
        .collect())
    }

    async fn save_identity(&self, identity: IdentityRecord) -> Result<(), StorageError> {
        let record = to_json(&identity)?;
        let c = self.client_conn().await?;
        c.execute(
            "INSERT INTO identities (subject, record, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (subject) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
            &[&identity.subject, &record, &i(identity.updated_at)],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn identity(&self, subject: &str) -> Result<Option<IdentityRecord>, StorageError> {
        let c = self.client_conn().await?;
        let row = c
            .query_opt(
                "SELECT record FROM identities WHERE subject = $1",
                &[&subject],
            )
            .await
            .map_err(backend)?;
        row.map(|r| from_json(&r.get::<_, String>(0))).transpose()
    }
}

#[async_trait]
impl CounterStore for PostgresStorage {
    async fn bump_counter(
        &self,
        key: &str,
        now: u64,
        window: u64,
    ) -> Result<(u32, u64), StorageError> {
        let c = self.client_conn().await?;
        let row = c
            .query_one(
                "INSERT INTO login_failures AS f (key, count, window_start) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET
                   count = CASE WHEN f.window_start + $3 <= $2 THEN 1 ELSE f.count + 1 END,
                   window_start = CASE WHEN f.window_start + $3 <= $2 THEN $2 ELSE f.window_start END
                 RETURNING count, window_start",
                &[&key, &i(now), &i(window)],
            )
            .await
            .map_err(backend)?;
        Ok((
            u32::try_from(row.get::<_, i32>(0)).unwrap_or(u32::MAX),
            u(row.get(1)),
        ))
    }

    async fn counter(&self, key: &str) -> Result<Option<(u32, u64)>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            "SELECT count, window_start FROM login_failures WHERE key = $1",
            &[&key],
        )
        .await
        .map_err(backend)?
        .map(|r| (u32::try_from(r.get::<_, i32>(0)).unwrap_or(0), u(r.get(1)))))
    }

    async fn release_counter(&self, key: &str) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "UPDATE login_failures SET count = count - 1 WHERE key = $1 AND count > 0",
            &[&key],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn clear_counter(&self, key: &str) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute("DELETE FROM login_failures WHERE key = $1", &[&key])
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn purge_counters(&self, now: u64, max_age: u64) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "DELETE FROM login_failures WHERE window_start + $2 <= $1",
            &[&i(now), &i(max_age)],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }
}
