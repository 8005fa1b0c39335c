//! PostgreSQL storage: grants people approved and browser sessions
//! ([`AccountStore`]). A revocation is one transaction, so an instance
//! racing it either sees the grant whole or revoked whole.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::PostgresStorage;
use crate::storage::codec::{i, u};
use crate::storage::{
    AccountStore, Grant, GrantFilter, GrantRecord, SessionRecord, SignInMethod, StorageError,
};

/// The filter's conditions (`$1`, `$2`, `$3`; NULL matches any).
const GRANT_MATCH: &str =
    "($1::TEXT IS NULL OR subject = $1) AND ($2::TEXT IS NULL OR client_id = $2)
     AND ($3::TEXT IS NULL OR resource = $3)";

const GRANT_COLUMNS: &str = "subject, client_id, resource, scope, method, device, granted_at";
const SESSION_COLUMNS: &str = "id_hash, subject, method, auth_time, expires_at, address";

fn grant_from(r: &Row) -> GrantRecord {
    GrantRecord {
        subject: r.get(0),
        client_id: r.get(1),
        resource: r.get(2),
        scope: r.get(3),
        method: SignInMethod::parse(r.get(4)),
        device: r.get(5),
        granted_at: u(r.get(6)),
    }
}

fn session_from(r: &Row) -> SessionRecord {
    SessionRecord {
        id_hash: r.get(0),
        subject: r.get(1),
        method: SignInMethod::parse(r.get(2)),
        auth_time: u(r.get(3)),
        expires_at: u(r.get(4)),
        address: r.get(5),
    }
}

#[async_trait]
impl AccountStore for PostgresStorage {
    async fn record_grant(&self, g: GrantRecord) -> Result<(), StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        tx.execute(
            &format!(
                "INSERT INTO grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (subject, client_id, resource) DO UPDATE SET
                     scope = excluded.scope, method = excluded.method,
                     device = excluded.device, granted_at = excluded.granted_at"
            ),
            &[
                &g.subject,
                &g.client_id,
                &g.resource,
                &g.scope,
                &g.method.as_str(),
                &g.device,
                &i(g.granted_at),
            ],
        )
        .await?;
        tx.execute(
            "UPDATE clients SET used_at = coalesce(used_at, $2) WHERE client_id = $1",
            &[&g.client_id, &i(g.granted_at)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn grants(&self, f: &GrantFilter, now: u64) -> Result<Vec<Grant>, StorageError> {
        let c = self.client_conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT g.subject, g.client_id, g.resource, g.scope, g.method, g.device, g.granted_at,
                        EXISTS(SELECT 1 FROM consents k WHERE k.subject = g.subject
                            AND k.client_id = g.client_id AND k.resource = g.resource),
                        (SELECT COUNT(DISTINCT t.family_id) FROM refresh_tokens t
                            WHERE t.subject = g.subject
                            AND (t.record::jsonb ->> 'client_id') = g.client_id
                            AND coalesce(t.record::jsonb ->> 'resource', '') = g.resource
                            AND t.rotated_at IS NULL AND t.expires_at > $4
                            AND NOT EXISTS (SELECT 1 FROM revoked_families r
                                WHERE r.family_id = t.family_id))
                     FROM grants g WHERE {GRANT_MATCH} AND g.revoked_at < g.granted_at
                     ORDER BY g.granted_at, g.subject, g.client_id, g.resource"
                ),
                &[&f.subject, &f.client_id, &f.resource, &i(now)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Grant {
                record: grant_from(r),
                remembered: r.get(7),
                live_refresh_families: u32::try_from(r.get::<_, i64>(8)).unwrap_or(u32::MAX),
            })
            .collect())
    }

    async fn revoke_grants(
        &self,
        f: &GrantFilter,
        now: u64,
    ) -> Result<Vec<GrantRecord>, StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        let ended = tx
            .query(
                &format!(
                    "UPDATE grants SET revoked_at = $4 WHERE {GRANT_MATCH} AND revoked_at < granted_at
                     RETURNING {GRANT_COLUMNS}"
                ),
                &[&f.subject, &f.client_id, &f.resource, &i(now)],
            )
            .await?;
        tx.execute(
            &format!("DELETE FROM consents WHERE {GRANT_MATCH}"),
            &[&f.subject, &f.client_id, &f.resource],
        )
        .await?;
        tx.execute(
            "INSERT INTO revoked_families (family_id, revoked_at)
             SELECT DISTINCT family_id, $4::BIGINT FROM refresh_tokens
             WHERE ($1::TEXT IS NULL OR subject = $1)
             AND ($2::TEXT IS NULL OR (record::jsonb ->> 'client_id') = $2)
             AND ($3::TEXT IS NULL OR coalesce(record::jsonb ->> 'resource', '') = $3)
             AND subject IS NOT NULL
             ON CONFLICT DO NOTHING",
            &[&f.subject, &f.client_id, &f.resource, &i(now)],
        )
        .await?;
        let ended: Vec<GrantRecord> = ended.iter().map(grant_from).collect();
        // The upstream tokens of a person's sign-in through a client end
        // with their grant to it.
        for g in &ended {
            tx.execute(
                "DELETE FROM upstream_tokens WHERE subject = $1 AND client_id = $2",
                &[&g.subject, &g.client_id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    async fn grant_revoked_at(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<u64, StorageError> {
        let c = self.client_conn().await?;
        let row = c
            .query_one(
                "SELECT coalesce(max(revoked_at), 0) FROM grants
                 WHERE subject = $1 AND client_id = $2 AND resource IN ($3, '')",
                &[&subject, &client_id, &resource],
            )
            .await?;
        Ok(u(row.get(0)))
    }

    async fn client_grant_revoked_at(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<u64, StorageError> {
        let c = self.client_conn().await?;
        let row = c
            .query_one(
                "SELECT coalesce(max(revoked_at), 0) FROM grants
                 WHERE subject = $1 AND client_id = $2",
                &[&subject, &client_id],
            )
            .await?;
        Ok(u(row.get(0)))
    }

    async fn insert_session(&self, s: SessionRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                &format!(
                    "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT DO NOTHING"
                ),
                &[
                    &s.id_hash,
                    &s.subject,
                    &s.method.as_str(),
                    &i(s.auth_time),
                    &i(s.expires_at),
                    &s.address,
                ],
            )
            .await?;
        if n == 0 {
            Err(StorageError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1"),
            &[&id_hash],
        )
        .await?
        .as_ref()
        .map(session_from))
    }

    async fn sessions(&self, subject: &str, now: u64) -> Result<Vec<SessionRecord>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query(
            &format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE subject = $1 AND expires_at > $2
                     ORDER BY auth_time, id_hash"
            ),
            &[&subject, &i(now)],
        )
        .await?
        .iter()
        .map(session_from)
        .collect())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        Ok(
            c.execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash])
                .await?
                > 0,
        )
    }

    async fn delete_sessions(&self, subject: &str) -> Result<usize, StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute("DELETE FROM sessions WHERE subject = $1", &[&subject])
            .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn purge_sessions(&self, now: u64) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&i(now)])
            .await?;
        Ok(())
    }
}
