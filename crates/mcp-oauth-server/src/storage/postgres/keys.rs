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
            "SELECT kid, alg, pkcs8, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, seq DESC",
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
        })
        .collect())
    }

    async fn add_signing_key(&self, key: SigningKeyRecord, now: u64) -> Result<(), StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL",
            &[&i(now)],
        )
        .await?;
        tx.execute(
            "INSERT INTO signing_keys (kid, alg, pkcs8, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)",
            &[&key.kid, &key.alg, &key.pkcs8, &i(key.created_at), &key.retired_at.map(i)],
        )
        .await?;
        tx.commit().await.map_err(StorageError::from)
    }

    async fn add_first_signing_key(&self, key: SigningKeyRecord) -> Result<bool, StorageError> {
        // The unique index on the active key decides between instances.
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO signing_keys (kid, alg, pkcs8, created_at, retired_at)
                 VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING",
                &[&key.kid, &key.alg, &key.pkcs8, &i(key.created_at)],
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
