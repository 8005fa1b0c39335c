//! PostgreSQL storage: the upstream token vault ([`VaultStore`]). The
//! compare-and-set is one conditional `UPDATE`, so instances refreshing one
//! person's token at once write once.

use async_trait::async_trait;

use super::PostgresStorage;
use crate::storage::codec::{i, u};
use crate::storage::vault::fresh_version;
use crate::storage::{StorageError, UpstreamTokenRecord, VaultStore};

#[async_trait]
impl VaultStore for PostgresStorage {
    async fn put_upstream_token(&self, r: UpstreamTokenRecord) -> Result<u64, StorageError> {
        let version = fresh_version(None)?;
        let c = self.client_conn().await?;
        let row = c
            .query_one(
                "INSERT INTO upstream_tokens
                     (subject, provider, client_id, generation, sealed, version, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $7, $6)
                 ON CONFLICT (subject, provider) DO UPDATE SET client_id = $3,
                     generation = $4, sealed = $5, version = $7, updated_at = $6
                 RETURNING version",
                &[
                    &r.subject,
                    &r.provider,
                    &r.client_id,
                    &i(r.generation),
                    &r.sealed,
                    &i(r.updated_at),
                    &i(version),
                ],
            )
            .await?;
        Ok(u(row.get(0)))
    }

    async fn upstream_token(
        &self,
        subject: &str,
        provider: &str,
    ) -> Result<Option<UpstreamTokenRecord>, StorageError> {
        let c = self.client_conn().await?;
        let row = c
            .query_opt(
                "SELECT client_id, generation, sealed, version, updated_at FROM upstream_tokens
                 WHERE subject = $1 AND provider = $2",
                &[&subject, &provider],
            )
            .await?;
        Ok(row.map(|r| UpstreamTokenRecord {
            subject: subject.to_owned(),
            provider: provider.to_owned(),
            client_id: r.get(0),
            generation: u(r.get(1)),
            sealed: r.get(2),
            version: u(r.get(3)),
            updated_at: u(r.get(4)),
        }))
    }

    async fn replace_upstream_token(
        &self,
        r: UpstreamTokenRecord,
        expected: u64,
    ) -> Result<Option<u64>, StorageError> {
        let version = fresh_version(Some(expected))?;
        let c = self.client_conn().await?;
        let row = c
            .query_opt(
                "UPDATE upstream_tokens SET sealed = $3, updated_at = $4, version = $6
                 WHERE subject = $1 AND provider = $2 AND version = $5
                 RETURNING version",
                &[
                    &r.subject,
                    &r.provider,
                    &r.sealed,
                    &i(r.updated_at),
                    &i(expected),
                    &i(version),
                ],
            )
            .await?;
        Ok(row.map(|r| u(r.get(0))))
    }

    async fn delete_upstream_token(
        &self,
        subject: &str,
        provider: &str,
        expected: u64,
    ) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "DELETE FROM upstream_tokens WHERE subject = $1 AND provider = $2 AND version = $3",
                &[&subject, &provider, &i(expected)],
            )
            .await?;
        Ok(n > 0)
    }

    async fn retain_upstream_tokens(&self, keep: &[String]) -> Result<u64, StorageError> {
        let c = self.client_conn().await?;
        let keep = keep.to_vec();
        let n = c
            .execute(
                "DELETE FROM upstream_tokens WHERE NOT (provider = ANY($1))",
                &[&keep],
            )
            .await?;
        Ok(n)
    }
}
