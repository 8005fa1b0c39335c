//! SQLite storage: windowed counters ([`CounterStore`]).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use crate::storage::codec::{i, u};
use crate::storage::{CounterStore, StorageError};

#[async_trait]
impl CounterStore for SqliteStorage {
    async fn bump_counter(
        &self,
        key: &str,
        now: u64,
        window: u64,
    ) -> Result<(u32, u64), StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.query_row(
                "INSERT INTO login_failures (key, count, window_start) VALUES (?1, 1, ?2)
                 ON CONFLICT(key) DO UPDATE SET
                   count = CASE WHEN window_start + ?3 <= ?2 THEN 1 ELSE count + 1 END,
                   window_start = CASE WHEN window_start + ?3 <= ?2 THEN ?2 ELSE window_start END
                 RETURNING count, window_start",
                params![key, i(now), i(window)],
                |r| {
                    Ok((
                        u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                        u(r.get(1)?),
                    ))
                },
            )
            .map_err(StorageError::from)
        })
        .await
    }

    async fn counter(&self, key: &str) -> Result<Option<(u32, u64)>, StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT count, window_start FROM login_failures WHERE key = ?1",
                [key],
                |r| {
                    Ok((
                        u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                        u(r.get(1)?),
                    ))
                },
            )
            .optional()
            .map_err(StorageError::from)
        })
        .await
    }

    async fn release_counter(&self, key: &str) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE login_failures SET count = count - 1 WHERE key = ?1 AND count > 0",
                [key],
            )?;
            Ok(())
        })
        .await
    }

    async fn clear_counter(&self, key: &str) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM login_failures WHERE key = ?1", [key])?;
            Ok(())
        })
        .await
    }

    async fn purge_counters(&self, now: u64, max_age: u64) -> Result<(), StorageError> {
        self.with(move |c| {
            c.execute(
                "DELETE FROM login_failures WHERE window_start + ?2 <= ?1",
                params![i(now), i(max_age)],
            )?;
            Ok(())
        })
        .await
    }
}
