//! SQLite storage: device authorizations. Every read-modify-write is one
//! transaction on the connection's thread.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use crate::storage::codec::{from_json, i, to_json};
use crate::storage::policy::{self, DevicePoll};
use crate::storage::{DeviceRecord, DeviceState, DeviceStore, StorageError};

#[async_trait]
impl DeviceStore for SqliteStorage {
    async fn insert_device(&self, device: DeviceRecord) -> Result<(), StorageError> {
        let body = to_json(&device)?;
        self.with(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO devices (device_code_hash, user_code, expires_at, record) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    device.device_code_hash,
                    device.user_code,
                    i(device.expires_at),
                    body
                ],
            )?;
            if n == 0 {
                Err(StorageError::Conflict)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn device_by_user_code(
        &self,
        user_code: &str,
    ) -> Result<Option<DeviceRecord>, StorageError> {
        let code = user_code.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT record FROM devices WHERE user_code = ?1",
                [code],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .as_deref()
            .map(from_json)
            .transpose()
        })
        .await
    }

    async fn decide_device(
        &self,
        user_code: &str,
        decision: DeviceState,
        now: u64,
    ) -> Result<bool, StorageError> {
        let code = user_code.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let row: Option<String> = tx
                .query_row(
                    "SELECT record FROM devices WHERE user_code = ?1",
                    [&code],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(mut record) = row.as_deref().map(from_json::<DeviceRecord>).transpose()?
            else {
                return Ok(false);
            };
            if !policy::device_decidable(&record, now) {
                return Ok(false);
            }
            record.state = decision;
            tx.execute(
                "UPDATE devices SET record = ?2 WHERE user_code = ?1",
                params![code, to_json(&record)?],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn poll_device(
        &self,
        device_code_hash: &str,
        client_id: &str,
        now: u64,
    ) -> Result<DevicePoll, StorageError> {
        let hash = device_code_hash.to_owned();
        let client_id = client_id.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let stored = tx
                .query_row(
                    "SELECT record FROM devices WHERE device_code_hash = ?1",
                    [&hash],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .as_deref()
                .map(from_json::<DeviceRecord>)
                .transpose()?;
            let (verdict, written) = policy::device_poll(stored, &client_id, now);
            if let Some(record) = written {
                tx.execute(
                    "UPDATE devices SET record = ?2 WHERE device_code_hash = ?1",
                    params![hash, to_json(&record)?],
                )?;
            }
            tx.commit()?;
            Ok(verdict)
        })
        .await
    }

    async fn purge_devices(&self, now: u64) -> Result<(), StorageError> {
        self.with(move |c| {
            c.execute("DELETE FROM devices WHERE expires_at <= ?1", [i(now)])?;
            Ok(())
        })
        .await
    }
}
