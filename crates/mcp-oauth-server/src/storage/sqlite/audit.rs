//! SQLite storage: the audit trail ([`AuditStore`]).

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStorage;
use crate::storage::codec::{from_json, i, to_json, u};
use crate::storage::{AuditEvent, AuditQuery, AuditStore, StorageError};

#[async_trait]
impl AuditStore for SqliteStorage {
    async fn append_audit(&self, e: AuditEvent) -> Result<i64, StorageError> {
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO audit_events (at, kind, actor_user, actor_client, client, address, subject, details)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                i(e.at),
                e.kind,
                e.actor_user,
                e.actor_client,
                e.client,
                e.address,
                e.subject,
                to_json(&e.details)?
            ])?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StorageError> {
        let q = q.clone();
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, at, kind, actor_user, actor_client, client, address, subject, details
                 FROM audit_events
                 WHERE id > ?1 AND (?2 IS NULL OR at >= ?2)
                 AND (?3 IS NULL OR actor_user = ?3 OR subject = ?3)
                 AND (?4 IS NULL OR actor_client = ?4 OR client = ?4 OR subject = ?4)
                 AND (?5 IS NULL OR kind = ?5)
                 ORDER BY id LIMIT ?6",
            )?;
            let rows = stmt.query_map(
                params![
                    q.after,
                    q.since.map(i),
                    q.user,
                    q.client,
                    q.kind,
                    i64::try_from(q.capped_limit()).unwrap_or(i64::MAX)
                ],
                |r| {
                    Ok((
                        AuditEvent {
                            id: r.get(0)?,
                            at: u(r.get(1)?),
                            kind: r.get(2)?,
                            actor_user: r.get(3)?,
                            actor_client: r.get(4)?,
                            client: r.get(5)?,
                            address: r.get(6)?,
                            subject: r.get(7)?,
                            details: serde_json::Value::Null,
                        },
                        r.get::<_, String>(8)?,
                    ))
                },
            )?;
            rows.map(|r| {
                let (mut event, details) = r?;
                event.details = from_json(&details)?;
                Ok(event)
            })
            .collect()
        })
        .await
    }

    async fn purge_audit(&self, before: u64) -> Result<u64, StorageError> {
        self.with(move |c| {
            let n = c.execute("DELETE FROM audit_events WHERE at < ?1", [i(before)])?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}
