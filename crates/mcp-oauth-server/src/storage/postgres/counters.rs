//! PostgreSQL storage: windowed counters ([`CounterStore`]).

use async_trait::async_trait;

use super::PostgresStorage;
use crate::storage::codec::{i, u};
use crate::storage::{CounterStore, StorageError};

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
            .await?;
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
        .await?
        .map(|r| (u32::try_from(r.get::<_, i32>(0)).unwrap_or(0), u(r.get(1)))))
    }

    async fn release_counter(&self, key: &str) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "UPDATE login_failures SET count = count - 1 WHERE key = $1 AND count > 0",
            &[&key],
        )
        .await?;
        Ok(())
    }

    async fn clear_counter(&self, key: &str) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute("DELETE FROM login_failures WHERE key = $1", &[&key])
            .await?;
        Ok(())
    }

    async fn purge_counters(&self, now: u64, max_age: u64) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "DELETE FROM login_failures WHERE window_start + $2 <= $1",
            &[&i(now), &i(max_age)],
        )
        .await?;
        Ok(())
    }
}
