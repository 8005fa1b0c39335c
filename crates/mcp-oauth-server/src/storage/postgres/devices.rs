//! PostgreSQL storage: device authorizations. A decision and a poll are
//! each one transaction holding the row's lock, so instances racing on
//! one device code get the single-instance outcome: one of two pollers
//! gets the tokens.

use async_trait::async_trait;

use super::PostgresStorage;
use crate::storage::codec::{from_json, i, to_json};
use crate::storage::policy::{self, DevicePoll};
use crate::storage::{DeviceRecord, DeviceState, DeviceStore, StorageError};

#[async_trait]
impl DeviceStore for PostgresStorage {
    async fn insert_device(&self, device: DeviceRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO devices (device_code_hash, user_code, expires_at, record) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[
                    &device.device_code_hash,
                    &device.user_code,
                    &i(device.expires_at),
                    &to_json(&device)?,
                ],
            )
            .await?;
        if n == 0 {
            Err(StorageError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn device_by_user_code(
        &self,
        user_code: &str,
    ) -> Result<Option<DeviceRecord>, StorageError> {
        let c = self.client_conn().await?;
        c.query_opt(
            "SELECT record FROM devices WHERE user_code = $1",
            &[&user_code],
        )
        .await?
        .map(|row| from_json(row.get::<_, &str>(0)))
        .transpose()
    }

    async fn decide_device(
        &self,
        user_code: &str,
        decision: DeviceState,
        now: u64,
    ) -> Result<bool, StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT record FROM devices WHERE user_code = $1 FOR UPDATE",
                &[&user_code],
            )
            .await?
        else {
            return Ok(false);
        };
        let mut record: DeviceRecord = from_json(row.get::<_, &str>(0))?;
        if !policy::device_decidable(&record, now) {
            return Ok(false);
        }
        record.state = decision;
        tx.execute(
            "UPDATE devices SET record = $2 WHERE user_code = $1",
            &[&user_code, &to_json(&record)?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn poll_device(
        &self,
        device_code_hash: &str,
        client_id: &str,
        now: u64,
    ) -> Result<DevicePoll, StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        let stored = tx
            .query_opt(
                "SELECT record FROM devices WHERE device_code_hash = $1 FOR UPDATE",
                &[&device_code_hash],
            )
            .await?
            .map(|row| from_json::<DeviceRecord>(row.get::<_, &str>(0)))
            .transpose()?;
        let (verdict, written) = policy::device_poll(stored, client_id, now);
        if let Some(record) = written {
            tx.execute(
                "UPDATE devices SET record = $2 WHERE device_code_hash = $1",
                &[&device_code_hash, &to_json(&record)?],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(verdict)
    }

    async fn purge_devices(&self, now: u64) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute("DELETE FROM devices WHERE expires_at <= $1", &[&i(now)])
            .await?;
        Ok(())
    }
}
