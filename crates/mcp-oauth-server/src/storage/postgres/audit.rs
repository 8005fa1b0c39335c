//! PostgreSQL storage: the audit trail ([`AuditStore`]).

use async_trait::async_trait;

use super::PostgresStorage;
use crate::storage::codec::{from_json, i, to_json, u};
use crate::storage::{AuditEvent, AuditQuery, AuditStore, StorageError};

/// The advisory lock audit appends take turns on (any constant shared by
/// all instances, distinct from the migration lock).
const AUDIT_LOCK: i64 = 0x6d63_705f_6175_6469;

#[async_trait]
impl AuditStore for PostgresStorage {
    async fn append_audit(&self, e: AuditEvent) -> Result<i64, StorageError> {
        // Appends take turns (a transaction-scoped advisory lock), so
        // positions become visible in order: a reader paging with `after`
        // never passes a position that commits later, even across
        // instances.
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
            .await?;
        let row = tx
            .query_one(
                "INSERT INTO audit_events (at, kind, actor_user, actor_client, client, address, subject, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &i(e.at),
                    &e.kind,
                    &e.actor_user,
                    &e.actor_client,
                    &e.client,
                    &e.address,
                    &e.subject,
                    &to_json(&e.details)?,
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(row.get(0))
    }

    async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StorageError> {
        let c = self.client_conn().await?;
        let limit = i64::try_from(q.capped_limit()).unwrap_or(i64::MAX);
        let rows = c
            .query(
                "SELECT id, at, kind, actor_user, actor_client, client, address, subject, details
                 FROM audit_events
                 WHERE id > $1 AND ($2::BIGINT IS NULL OR at >= $2)
                 AND ($3::TEXT IS NULL OR actor_user = $3 OR subject = $3)
                 AND ($4::TEXT IS NULL OR actor_client = $4 OR client = $4 OR subject = $4)
                 AND ($5::TEXT IS NULL OR kind = $5)
                 ORDER BY id LIMIT $6",
                &[
                    &q.after,
                    &q.since.map(i),
                    &q.user,
                    &q.client,
                    &q.kind,
                    &limit,
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: r.get(0),
                    at: u(r.get(1)),
                    kind: r.get(2),
                    actor_user: r.get(3),
                    actor_client: r.get(4),
                    client: r.get(5),
                    address: r.get(6),
                    subject: r.get(7),
                    details: from_json(r.get::<_, &str>(8))?,
                })
            })
            .collect()
    }

    async fn purge_audit(&self, before: u64) -> Result<u64, StorageError> {
        let c = self.client_conn().await?;
        Ok(
            c.execute("DELETE FROM audit_events WHERE at < $1", &[&i(before)])
                .await?,
        )
    }
}
