//! Device authorizations in memory: one lock around each read-modify-write.

use async_trait::async_trait;

use super::MemoryStorage;
use crate::storage::policy::{self, DevicePoll};
use crate::storage::{DeviceRecord, DeviceState, DeviceStore, StorageError};

#[async_trait]
impl DeviceStore for MemoryStorage {
    async fn insert_device(&self, device: DeviceRecord) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        let taken = g.devices.contains_key(&device.device_code_hash)
            || g.device_codes.contains_key(&device.user_code);
        if taken {
            return Err(StorageError::Conflict);
        }
        g.device_codes
            .insert(device.user_code.clone(), device.device_code_hash.clone());
        g.devices.insert(device.device_code_hash.clone(), device);
        Ok(())
    }

    async fn device_by_user_code(
        &self,
        user_code: &str,
    ) -> Result<Option<DeviceRecord>, StorageError> {
        let g = self.inner.lock();
        Ok(g.device_codes
            .get(user_code)
            .and_then(|hash| g.devices.get(hash))
            .cloned())
    }

    async fn decide_device(
        &self,
        user_code: &str,
        decision: DeviceState,
        now: u64,
    ) -> Result<bool, StorageError> {
        let mut g = self.inner.lock();
        let Some(hash) = g.device_codes.get(user_code).cloned() else {
            return Ok(false);
        };
        match g.devices.get_mut(&hash) {
            Some(record) if policy::device_decidable(record, now) => {
                record.state = decision;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn poll_device(
        &self,
        device_code_hash: &str,
        client_id: &str,
        now: u64,
    ) -> Result<DevicePoll, StorageError> {
        let mut g = self.inner.lock();
        let stored = g.devices.get(device_code_hash).cloned();
        let (verdict, written) = policy::device_poll(stored, client_id, now);
        if let Some(record) = written {
            g.devices.insert(record.device_code_hash.clone(), record);
        }
        Ok(verdict)
    }

    async fn purge_devices(&self, now: u64) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        g.devices.retain(|_, d| d.expires_at > now);
        let live: std::collections::HashSet<String> = g.devices.keys().cloned().collect();
        g.device_codes.retain(|_, hash| live.contains(hash));
        Ok(())
    }
}
