//! PostgreSQL storage: signing keys ([`KeyStore`]).

use async_trait::async_trait;

use super::PostgresStorage;
use crate::storage::codec::{i, u};
use crate::storage::{KeyStore, SigningKeyRecord, StorageError};

#[async_trait]
impl KeyStore for PostgresStorage {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query(
            "SELECT kid, alg, pkcs8, created_at, retired_at, activates_at FROM signing_keys ORDER BY created_at DESC, seq DESC",
            &[],
        )
        .await?
        .iter()
        .map(|r| SigningKeyRecord {
            kid: r.get(0),
            alg: r.get(1),
            pkcs8: r.get(2),
            created_at: u(r.get(3)),
            retired_at: r.get::<_, Option<i64>>(4).map(u),
            activates_at: u(r.get(5)),
        })
        .collect())
    }

    async fn add_signing_key(
        &self,
        key: SigningKeyRecord,
        replaces: &str,
    ) -> Result<bool, StorageError> {
        // The row lock taken by the UPDATE orders concurrent rotations: the
        // second sees the key already retired and adds nothing.
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND kid = $2",
                &[&i(key.activates_at), &replaces],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO signing_keys (kid, alg, pkcs8, created_at, activates_at, retired_at)
             VALUES ($1, $2, $3, $4, $5, NULL)",
            &[
                &key.kid,
                &key.alg,
                &key.pkcs8,
                &i(key.created_at),
                &i(key.activates_at),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn add_first_signing_key(&self, key: SigningKeyRecord) -> Result<bool, StorageError> {
        // The unique index on the active key decides between instances.
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO signing_keys (kid, alg, pkcs8, created_at, activates_at, retired_at)
                 VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT DO NOTHING",
                &[
                    &key.kid,
                    &key.alg,
                    &key.pkcs8,
                    &i(key.created_at),
                    &i(key.activates_at),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn delete_retired_key(&self, kid: &str) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "DELETE FROM signing_keys WHERE kid = $1 AND retired_at IS NOT NULL",
                &[&kid],
            )
            .await?;
        Ok(n > 0)
    }
}
