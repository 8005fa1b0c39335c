//! SQLite storage: grants people approved and browser sessions
//! ([`AccountStore`]).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStorage;
use crate::storage::codec::{i, u};
use crate::storage::{
    AccountStore, Grant, GrantFilter, GrantRecord, SessionRecord, SignInMethod, StorageError,
};

/// The filter's conditions on a table with `subject`, `client_id` and
/// `resource` columns (`?1`, `?2`, `?3`; NULL matches any).
const GRANT_MATCH: &str = "(?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR client_id = ?2)
     AND (?3 IS NULL OR resource = ?3)";

fn grant_row(r: &Row<'_>) -> rusqlite::Result<GrantRecord> {
    Ok(GrantRecord {
        subject: r.get(0)?,
        client_id: r.get(1)?,
        resource: r.get(2)?,
        scope: r.get(3)?,
        method: SignInMethod::parse(&r.get::<_, String>(4)?),
        device: r.get::<_, i64>(5)? != 0,
        granted_at: u(r.get(6)?),
    })
}

fn session_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id_hash: r.get(0)?,
        subject: r.get(1)?,
        method: SignInMethod::parse(&r.get::<_, String>(2)?),
        auth_time: u(r.get(3)?),
        expires_at: u(r.get(4)?),
        address: r.get(5)?,
    })
}

const SESSION_COLUMNS: &str = "id_hash, subject, method, auth_time, expires_at, address";

#[async_trait]
impl AccountStore for SqliteStorage {
    async fn record_grant(&self, g: GrantRecord) -> Result<(), StorageError> {
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO grants (subject, client_id, resource, scope, method, device, granted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (subject, client_id, resource) DO UPDATE SET
                     scope = excluded.scope, method = excluded.method,
                     device = excluded.device, granted_at = excluded.granted_at",
                params![
                    g.subject,
                    g.client_id,
                    g.resource,
                    g.scope,
                    g.method.as_str(),
                    g.device,
                    i(g.granted_at)
                ],
            )?;
            tx.execute(
                "UPDATE clients SET used_at = coalesce(used_at, ?2) WHERE client_id = ?1",
                params![g.client_id, i(g.granted_at)],
            )?;
            tx.commit().map_err(StorageError::from)
        })
        .await
    }

    async fn grants(&self, filter: &GrantFilter, now: u64) -> Result<Vec<Grant>, StorageError> {
        let f = filter.clone();
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT g.subject, g.client_id, g.resource, g.scope, g.method, g.device, g.granted_at,
                    EXISTS(SELECT 1 FROM consents k WHERE k.subject = g.subject
                        AND k.client_id = g.client_id AND k.resource = g.resource),
                    (SELECT COUNT(DISTINCT t.family_id) FROM refresh_tokens t
                        WHERE t.subject = g.subject
                        AND json_extract(t.record, '$.client_id') = g.client_id
                        AND coalesce(json_extract(t.record, '$.resource'), '') = g.resource
                        AND t.rotated_at IS NULL AND t.expires_at > ?4
                        AND NOT EXISTS (SELECT 1 FROM revoked_families r
                            WHERE r.family_id = t.family_id))
                 FROM grants g WHERE {GRANT_MATCH} AND g.revoked_at < g.granted_at
                 ORDER BY g.granted_at, g.subject, g.client_id, g.resource"
            ))?;
            let rows = stmt.query_map(
                params![f.subject, f.client_id, f.resource, i(now)],
                |r| {
                    Ok(Grant {
                        record: grant_row(r)?,
                        remembered: r.get::<_, i64>(7)? != 0,
                        live_refresh_families: u32::try_from(r.get::<_, i64>(8)?)
                            .unwrap_or(u32::MAX),
                    })
                },
            )?;
            rows.map(|r| r.map_err(StorageError::from)).collect()
        })
        .await
    }

    async fn revoke_grants(
        &self,
        filter: &GrantFilter,
        now: u64,
    ) -> Result<Vec<GrantRecord>, StorageError> {
        let f = filter.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            let ended = {
                let mut stmt = tx.prepare(&format!(
                    "UPDATE grants SET revoked_at = ?4
                     WHERE {GRANT_MATCH} AND revoked_at < granted_at
                     RETURNING subject, client_id, resource, scope, method, device, granted_at"
                ))?;
                let rows = stmt.query_map(
                    params![f.subject, f.client_id, f.resource, i(now)],
                    grant_row,
                )?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            tx.execute(
                &format!("DELETE FROM consents WHERE {GRANT_MATCH}"),
                params![f.subject, f.client_id, f.resource],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at)
                 SELECT DISTINCT family_id, ?4 FROM refresh_tokens
                 WHERE (?1 IS NULL OR subject = ?1)
                 AND (?2 IS NULL OR json_extract(record, '$.client_id') = ?2)
                 AND (?3 IS NULL OR coalesce(json_extract(record, '$.resource'), '') = ?3)
                 AND subject IS NOT NULL",
                params![f.subject, f.client_id, f.resource, i(now)],
            )?;
            // The upstream tokens of a person's sign-in through a client
            // end with their grant to it.
            for g in &ended {
                tx.execute(
                    "DELETE FROM upstream_tokens WHERE subject = ?1 AND client_id = ?2",
                    params![g.subject, g.client_id],
                )?;
            }
            tx.commit()?;
            Ok(ended)
        })
        .await
    }

    async fn grant_revoked_at(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<u64, StorageError> {
        let key = (
            subject.to_owned(),
            client_id.to_owned(),
            resource.to_owned(),
        );
        self.with(move |c| {
            // Two primary-key lookups (an `IN (?3, '')` list made SQLite
            // build an ephemeral table on every call).
            c.prepare_cached(
                "SELECT max(
                    coalesce((SELECT revoked_at FROM grants
                              WHERE subject = ?1 AND client_id = ?2 AND resource = ?3), 0),
                    coalesce((SELECT revoked_at FROM grants
                              WHERE subject = ?1 AND client_id = ?2 AND resource = ''), 0))",
            )
            .and_then(|mut s| s.query_row(params![key.0, key.1, key.2], |r| r.get::<_, i64>(0)))
            .map(u)
            .map_err(StorageError::from)
        })
        .await
    }

    async fn client_grant_revoked_at(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<u64, StorageError> {
        let key = (subject.to_owned(), client_id.to_owned());
        self.with(move |c| {
            c.prepare_cached(
                "SELECT coalesce(max(revoked_at), 0) FROM grants
                 WHERE subject = ?1 AND client_id = ?2",
            )
            .and_then(|mut s| s.query_row(params![key.0, key.1], |r| r.get::<_, i64>(0)))
            .map(u)
            .map_err(StorageError::from)
        })
        .await
    }

    async fn insert_session(&self, s: SessionRecord) -> Result<(), StorageError> {
        self.with(move |c| {
            let n = c.execute(
                &format!(
                    "INSERT OR IGNORE INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                ),
                params![
                    s.id_hash,
                    s.subject,
                    s.method.as_str(),
                    i(s.auth_time),
                    i(s.expires_at),
                    s.address
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

    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StorageError> {
        let id = id_hash.to_owned();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = ?1"
            ))
            .and_then(|mut s| s.query_row([id], session_row).optional())
            .map_err(StorageError::from)
        })
        .await
    }

    async fn sessions(&self, subject: &str, now: u64) -> Result<Vec<SessionRecord>, StorageError> {
        let subject = subject.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE subject = ?1 AND expires_at > ?2
                 ORDER BY auth_time, id_hash"
            ))?;
            let rows = stmt.query_map(params![subject, i(now)], session_row)?;
            rows.map(|r| r.map_err(StorageError::from)).collect()
        })
        .await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StorageError> {
        let id = id_hash.to_owned();
        self.with(move |c| Ok(c.execute("DELETE FROM sessions WHERE id_hash = ?1", [id])? > 0))
            .await
    }

    async fn delete_sessions(&self, subject: &str) -> Result<usize, StorageError> {
        let subject = subject.to_owned();
        self.with(move |c| Ok(c.execute("DELETE FROM sessions WHERE subject = ?1", [subject])?))
            .await
    }

    async fn purge_sessions(&self, now: u64) -> Result<(), StorageError> {
        self.with(move |c| {
            c.execute("DELETE FROM sessions WHERE expires_at <= ?1", [i(now)])?;
            Ok(())
        })
        .await
    }
}
