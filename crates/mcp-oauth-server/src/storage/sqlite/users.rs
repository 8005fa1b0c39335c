//! SQLite storage: users and federated identities ([`UserStore`]).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use crate::storage::codec::{from_json, i, to_json};
use crate::storage::{IdentityRecord, StorageError, UserRecord, UserStore};

#[async_trait]
impl UserStore for SqliteStorage {
    async fn upsert_user(&self, user: UserRecord) -> Result<(), StorageError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO users (username, password_hash) VALUES (?1, ?2)
                 ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash",
                params![user.username, user.password_hash],
            )?;
            Ok(())
        })
        .await
    }

    async fn insert_user(&self, user: UserRecord) -> Result<(), StorageError> {
        self.with(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO users (username, password_hash) VALUES (?1, ?2)",
                params![user.username, user.password_hash],
            )?;
            if n == 0 {
                Err(StorageError::Conflict)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn update_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StorageError> {
        let (name, hash) = (username.to_owned(), password_hash.to_owned());
        self.with(move |c| {
            let n = c.execute(
                "UPDATE users SET password_hash = ?2 WHERE username = ?1",
                params![name, hash],
            )?;
            Ok(n > 0)
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
            .map_err(StorageError::from)
        })
        .await
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StorageError> {
        let name = username.to_owned();
        self.with(move |c| Ok(c.execute("DELETE FROM users WHERE username = ?1", [name])? > 0))
            .await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StorageError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT username, password_hash FROM users ORDER BY username")?;
            let rows = stmt.query_map([], |r| {
                Ok(UserRecord {
                    username: r.get(0)?,
                    password_hash: r.get(1)?,
                })
            })?;
            rows.map(|r| r.map_err(StorageError::from)).collect()
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
            )?;
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
                .map_err(StorageError::from)
            })
            .await?;
        text.as_deref().map(from_json).transpose()
    }
}
