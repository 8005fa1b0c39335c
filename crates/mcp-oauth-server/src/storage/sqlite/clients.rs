//! SQLite storage: clients and consents ([`ClientStore`]).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use crate::storage::codec::{from_json, i, policy_from, policy_json, to_json, u};
use crate::storage::{ClientRecord, ClientStore, StorageError};

#[async_trait]
impl ClientStore for SqliteStorage {
    async fn insert_client(&self, client: ClientRecord) -> Result<(), StorageError> {
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO clients (client_id, secret_hash, metadata, issued_at, policy, used_at, registration_token_hash, last_used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![client.client_id, client.secret_hash, to_json(&client.metadata)?, i(client.issued_at), policy_json(&client.policy)?, client.policy.trusted.then(|| i(client.issued_at)), client.registration_token_hash, client.last_used_at.map(i)],
                )?;
            if n == 0 { Err(StorageError::Conflict) } else { Ok(()) }
        })
        .await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StorageError> {
        let id = client_id.to_owned();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?1"
            ))
            .and_then(|mut s| s.query_row([id], client_row).optional())?
            .map(client_from)
            .transpose()
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StorageError> {
        let id = client_id.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM consents WHERE client_id = ?1", [&id])?;
            let n = tx.execute("DELETE FROM clients WHERE client_id = ?1", [&id])?;
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY issued_at, client_id"
            ))?;
            let rows = stmt.query_map([], client_row)?;
            rows.map(|r| client_from(r?)).collect()
        })
        .await
    }

    async fn client_count(&self) -> Result<usize, StorageError> {
        self.with(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0))?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn update_client(&self, client: ClientRecord) -> Result<bool, StorageError> {
        self.with(move |c| {
            let n = c.execute(
                "UPDATE clients SET secret_hash = ?2, metadata = ?3, policy = ?4,
                     used_at = CASE WHEN ?5 THEN coalesce(used_at, issued_at) ELSE used_at END,
                     registration_token_hash = ?6
                     WHERE client_id = ?1",
                params![
                    client.client_id,
                    client.secret_hash,
                    to_json(&client.metadata)?,
                    policy_json(&client.policy)?,
                    client.policy.trusted,
                    client.registration_token_hash
                ],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn purge_unused_clients(
        &self,
        issued_before: u64,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS purged (client_id TEXT PRIMARY KEY)",
                [],
            )?;
            tx.execute("DELETE FROM purged", [])?;
            tx.execute(
                "INSERT INTO purged SELECT client_id FROM clients
                 WHERE used_at IS NULL AND issued_at < ?1 ORDER BY issued_at LIMIT ?2",
                params![i(issued_before), limit],
            )?;
            tx.execute(
                "DELETE FROM consents WHERE client_id IN (SELECT client_id FROM purged)",
                [],
            )?;
            let n = tx.execute(
                "DELETE FROM clients WHERE client_id IN (SELECT client_id FROM purged)",
                [],
            )?;
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn touch_client(
        &self,
        client_id: &str,
        now: u64,
        every: u64,
    ) -> Result<bool, StorageError> {
        let id = client_id.to_owned();
        self.with(move |c| {
            let n = c.execute(
                "UPDATE clients SET last_used_at = ?2
                 WHERE client_id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?3)",
                params![id, i(now), i(now.saturating_sub(every))],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn reap_idle_clients(
        &self,
        idle_before: u64,
        now: u64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let tx = c.transaction()?;
            let ids = {
                let mut stmt = tx.prepare(
                    "SELECT client_id FROM clients
                     WHERE coalesce(json_extract(policy, '$.trusted'), 0) = 0
                     AND coalesce(last_used_at, used_at, issued_at) < ?1
                     ORDER BY coalesce(last_used_at, used_at, issued_at), client_id LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![i(idle_before), limit], |r| r.get(0))?;
                rows.collect::<Result<Vec<String>, _>>()?
            };
            for id in &ids {
                tx.execute(
                    "UPDATE grants SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at < granted_at",
                    params![id, i(now)],
                )?;
                tx.execute("DELETE FROM consents WHERE client_id = ?1", [id])?;
                tx.execute(
                    "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at)
                     SELECT DISTINCT family_id, ?2 FROM refresh_tokens
                     WHERE json_extract(record, '$.client_id') = ?1",
                    params![id, i(now)],
                )?;
                tx.execute("DELETE FROM upstream_tokens WHERE client_id = ?1", [id])?;
                tx.execute("DELETE FROM clients WHERE client_id = ?1", [id])?;
            }
            tx.commit()?;
            Ok(ids)
        })
        .await
    }

    async fn consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<String>, StorageError> {
        let (s, c, r) = (
            subject.to_owned(),
            client_id.to_owned(),
            resource.to_owned(),
        );
        self.with(move |conn| {
            conn.query_row(
                "SELECT scope FROM consents WHERE subject = ?1 AND client_id = ?2 AND resource = ?3",
                [s, c, r],
                |row| row.get(0),
            )
            .optional()
            .map_err(StorageError::from)
        })
        .await
    }

    async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        let (s, c, r, sc) = (
            subject.to_owned(),
            client_id.to_owned(),
            resource.to_owned(),
            scope.to_owned(),
        );
        self.with(move |conn| {
            let now = i(now);
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO consents (subject, client_id, resource, scope, granted_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(subject, client_id, resource) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                params![s, c, r, sc, now],
            )?;
            tx.execute(
                "UPDATE clients SET used_at = ?2 WHERE client_id = ?1 AND used_at IS NULL",
                params![c, now],
            )?;
            tx.commit().map_err(StorageError::from)
        })
        .await
    }
}

fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn client_from(row: ClientRow) -> Result<ClientRecord, StorageError> {
    Ok(ClientRecord {
        client_id: row.0,
        secret_hash: row.1,
        metadata: from_json(&row.2)?,
        issued_at: u(row.3),
        policy: policy_from(row.4.as_deref())?,
        registration_token_hash: row.5,
        last_used_at: row.6.map(u),
    })
}

type ClientRow = (
    String,
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
);

const CLIENT_COLUMNS: &str =
    "client_id, secret_hash, metadata, issued_at, policy, registration_token_hash, last_used_at";
