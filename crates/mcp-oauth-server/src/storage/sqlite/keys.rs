//! SQLite storage: signing keys ([`KeyStore`]).

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStorage;
use crate::storage::codec::{i, u};
use crate::storage::{KeyStore, SigningKeyRecord, StorageError};

#[async_trait]
impl KeyStore for SqliteStorage {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT kid, alg, pkcs8, created_at, retired_at, activates_at FROM signing_keys ORDER BY created_at DESC, rowid DESC")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(SigningKeyRecord {
                        kid: r.get(0)?,
                        alg: r.get(1)?,
                        pkcs8: r.get(2)?,
                        created_at: u(r.get(3)?),
                        retired_at: r.get::<_, Option<i64>>(4)?.map(u),
                        activates_at: u(r.get(5)?),
                    })
                })?;
            rows.map(|r| r.map_err(StorageError::from)).collect()
        })
        .await
    }

    async fn add_signing_key(
        &self,
        key: SigningKeyRecord,
        replaces: &str,
    ) -> Result<bool, StorageError> {
        let replaces = replaces.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL AND kid = ?2",
                params![i(key.activates_at), replaces],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO signing_keys (kid, alg, pkcs8, created_at, activates_at, retired_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                params![
                    key.kid,
                    key.alg,
                    key.pkcs8,
                    i(key.created_at),
                    i(key.activates_at)
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn add_first_signing_key(&self, key: SigningKeyRecord) -> Result<bool, StorageError> {
        self.with(move |c| {
            let n = c.execute(
                "INSERT INTO signing_keys (kid, alg, pkcs8, created_at, activates_at, retired_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, NULL
                 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)",
                params![
                    key.kid,
                    key.alg,
                    key.pkcs8,
                    i(key.created_at),
                    i(key.activates_at)
                ],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_retired_key(&self, kid: &str) -> Result<bool, StorageError> {
        let kid = kid.to_owned();
        self.with(move |c| {
            let n = c.execute(
                "DELETE FROM signing_keys WHERE kid = ?1 AND retired_at IS NOT NULL",
                [kid],
            )?;
            Ok(n > 0)
        })
        .await
    }
}
