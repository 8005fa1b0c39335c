//! In-memory storage: the audit trail ([`AuditStore`]).

use async_trait::async_trait;

use super::MemoryStorage;
use crate::storage::{AuditEvent, AuditQuery, AuditStore, StorageError};

#[async_trait]
impl AuditStore for MemoryStorage {
    async fn append_audit(&self, mut event: AuditEvent) -> Result<i64, StorageError> {
        let mut g = self.inner.lock();
        g.audit_seq += 1;
        event.id = g.audit_seq;
        let id = event.id;
        g.audit.push(event);
        Ok(id)
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StorageError> {
        Ok(self
            .inner
            .lock()
            .audit
            .iter()
            .filter(|e| query.matches(e))
            .take(query.capped_limit())
            .cloned()
            .collect())
    }

    async fn purge_audit(&self, before: u64) -> Result<u64, StorageError> {
        let mut g = self.inner.lock();
        let n = g.audit.len();
        g.audit.retain(|e| e.at >= before);
        Ok(u64::try_from(n - g.audit.len()).unwrap_or(u64::MAX))
    }
}
