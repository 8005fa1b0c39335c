//! SQLite storage: codes, refresh families, revocations and subjects ([`GrantStore`]).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use super::spend::{self, insert_refresh_row};
use crate::storage::codec::{from_json, i, refresh_from, to_json, u};
use crate::storage::{
    CodeConsumption, CodeRecord, GrantStore, IssuedFromCode, RefreshRecord, RefreshRotation,
    StorageError, StoredCode, SubjectState,
};

#[async_trait]
impl GrantStore for SqliteStorage {
    async fn insert_code(&self, code: CodeRecord) -> Result<(), StorageError> {
        self.with(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO codes (code_hash, record, expires_at) VALUES (?1, ?2, ?3)",
                params![code.code_hash, to_json(&code)?, i(code.expires_at)],
            )?;
            if n == 0 {
                Err(StorageError::Conflict)
            } else {
                Ok(())
            }
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
                .optional()?;
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
        self.with(move |c| spend::consume(c, &hash, &issued)).await
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
                .optional()?;
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
        self.with(move |c| spend::rotate(c, &hash, &successor, &sealed_successor, now, grace))
            .await
    }

    async fn revoke_family(&self, family_id: &str, now: u64) -> Result<(), StorageError> {
        let id = family_id.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at) VALUES (?1, ?2)",
                params![id, i(now)],
            )?;
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
            .map_err(StorageError::from)
        })
        .await
    }

    async fn revoke_jti(&self, jti: &str, exp: u64) -> Result<(), StorageError> {
        let jti = jti.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO revoked_jtis (jti, exp) VALUES (?1, ?2)",
                params![jti, i(exp)],
            )?;
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
                .map_err(StorageError::from)
        })
        .await
    }

    fn data_version(&self) -> Option<u64> {
        self.read_data_version()
    }

    async fn use_once(&self, key: &str, exp: u64) -> Result<bool, StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO revoked_jtis (jti, exp) VALUES (?1, ?2)",
                params![key, i(exp)],
            )?;
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
                .map_err(StorageError::from)
        })
        .await
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<SubjectState, StorageError> {
        let subject = subject.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let state = tx.query_row(
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
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at)
                 SELECT DISTINCT family_id, ?2 FROM refresh_tokens WHERE subject = ?1",
                params![subject, i(now)],
            )?;
            tx.execute("DELETE FROM sessions WHERE subject = ?1", [&subject])?;
            // Their grants end with everything else: no remembered consent
            // lets a later session approve silently. The records go too:
            // the new generation and revocation time above already end
            // what the grants issued, and a new approval, even in this
            // same second, starts afresh.
            tx.execute("DELETE FROM consents WHERE subject = ?1", [&subject])?;
            tx.execute("DELETE FROM grants WHERE subject = ?1", [&subject])?;
            tx.execute("DELETE FROM upstream_tokens WHERE subject = ?1", [&subject])?;
            tx.commit()?;
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
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM codes WHERE expires_at + ?2 <= ?1",
                params![i(now), i(code_retention)],
            )?;
            tx.execute(
                "DELETE FROM refresh_tokens WHERE expires_at <= ?1",
                [i(now)],
            )?;
            tx.execute(
                "DELETE FROM revoked_families WHERE NOT EXISTS
                 (SELECT 1 FROM refresh_tokens t WHERE t.family_id = revoked_families.family_id)",
                [],
            )?;
            tx.execute("DELETE FROM revoked_jtis WHERE exp <= ?1", [i(now)])?;
            tx.execute(
                "DELETE FROM grants WHERE revoked_at > 0 AND revoked_at >= granted_at
                 AND revoked_at + 2 * ?2 <= ?1",
                params![i(now), i(code_retention)],
            )?;
            tx.commit().map_err(StorageError::from)
        })
        .await
    }
}
