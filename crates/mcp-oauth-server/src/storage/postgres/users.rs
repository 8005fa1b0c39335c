//! PostgreSQL storage: users and federated identities ([`UserStore`]).

use async_trait::async_trait;

use super::PostgresStorage;
use crate::storage::codec::{from_json, i, to_json};
use crate::storage::{IdentityRecord, StorageError, UserRecord, UserStore};

#[async_trait]
impl UserStore for PostgresStorage {
    async fn upsert_user(&self, user: UserRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "INSERT INTO users (username, password_hash) VALUES ($1, $2)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
            &[&user.username, &user.password_hash],
        )
        .await?;
        Ok(())
    }

    async fn insert_user(&self, user: UserRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO users (username, password_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&user.username, &user.password_hash],
            )
            .await?;
        if n == 0 {
            Err(StorageError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn update_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "UPDATE users SET password_hash = $2 WHERE username = $1",
                &[&username, &password_hash],
            )
            .await?;
        Ok(n > 0)
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            "SELECT username, password_hash FROM users WHERE username = $1",
            &[&username],
        )
        .await?
        .map(|r| UserRecord {
            username: r.get(0),
            password_hash: r.get(1),
        }))
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        Ok(
            c.execute("DELETE FROM users WHERE username = $1", &[&username])
                .await?
                > 0,
        )
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query(
            "SELECT username, password_hash FROM users ORDER BY username",
            &[],
        )
        .await?
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
        .await?;
        Ok(())
    }

    async fn identity(&self, subject: &str) -> Result<Option<IdentityRecord>, StorageError> {
        let c = self.client_conn().await?;
        let row = c
            .query_opt(
                "SELECT record FROM identities WHERE subject = $1",
                &[&subject],
            )
            .await?;
        row.map(|r| from_json(&r.get::<_, String>(0))).transpose()
    }
}
