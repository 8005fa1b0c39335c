//! SQLite storage: the upstream token vault ([`VaultStore`]).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use crate::storage::codec::{i, to_json, u};
use crate::storage::vault::fresh_version;
use crate::storage::{StorageError, UpstreamTokenRecord, VaultStore};

#[async_trait]
impl VaultStore for SqliteStorage {
    async fn put_upstream_token(&self, r: UpstreamTokenRecord) -> Result<u64, StorageError> {
        let version = fresh_version(None)?;
        self.with(move |c| {
            c.query_row(
                "INSERT INTO upstream_tokens
                     (subject, provider, client_id, generation, sealed, version, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?7, ?6)
                 ON CONFLICT(subject, provider) DO UPDATE SET client_id = ?3,
                     generation = ?4, sealed = ?5, version = ?7, updated_at = ?6
                 RETURNING version",
                params![
                    r.subject,
                    r.provider,
                    r.client_id,
                    i(r.generation),
                    r.sealed,
                    i(r.updated_at),
                    i(version)
                ],
                |row| row.get::<_, i64>(0),
            )
            .map(u)
            .map_err(StorageError::from)
        })
        .await
    }

    async fn upstream_token(
        &self,
        subject: &str,
        provider: &str,
    ) -> Result<Option<UpstreamTokenRecord>, StorageError> {
        let key = (subject.to_owned(), provider.to_owned());
        self.with(move |c| {
            c.query_row(
                "SELECT client_id, generation, sealed, version, updated_at FROM upstream_tokens
                 WHERE subject = ?1 AND provider = ?2",
                params![key.0, key.1],
                |r| {
                    Ok(UpstreamTokenRecord {
                        subject: key.0.clone(),
                        provider: key.1.clone(),
                        client_id: r.get(0)?,
                        generation: u(r.get(1)?),
                        sealed: r.get(2)?,
                        version: u(r.get(3)?),
                        updated_at: u(r.get(4)?),
                    })
                },
            )
            .optional()
            .map_err(StorageError::from)
        })
        .await
    }

    async fn replace_upstream_token(
        &self,
        r: UpstreamTokenRecord,
        expected: u64,
    ) -> Result<Option<u64>, StorageError> {
        let version = fresh_version(Some(expected))?;
        self.with(move |c| {
            c.query_row(
                "UPDATE upstream_tokens SET sealed = ?3, updated_at = ?4, version = ?6
                 WHERE subject = ?1 AND provider = ?2 AND version = ?5
                 RETURNING version",
                params![
                    r.subject,
                    r.provider,
                    r.sealed,
                    i(r.updated_at),
                    i(expected),
                    i(version)
                ],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.map(u))
            .map_err(StorageError::from)
        })
        .await
    }

    async fn delete_upstream_token(
        &self,
        subject: &str,
        provider: &str,
        expected: u64,
    ) -> Result<bool, StorageError> {
        let key = (subject.to_owned(), provider.to_owned());
        self.with(move |c| {
            let n = c.execute(
                "DELETE FROM upstream_tokens WHERE subject = ?1 AND provider = ?2 AND version = ?3",
                params![key.0, key.1, i(expected)],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn retain_upstream_tokens(&self, keep: &[String]) -> Result<u64, StorageError> {
        let keep = to_json(&keep)?;
        self.with(move |c| {
            let n = c.execute(
                "DELETE FROM upstream_tokens WHERE provider NOT IN (SELECT value FROM json_each(?1))",
                [keep],
            )?;
            Ok(n as u64)
        })
        .await
    }
}
