//! PostgreSQL storage: clients and consents ([`ClientStore`]).

use async_trait::async_trait;

use super::PostgresStorage;
use crate::storage::codec::{from_json, i, policy_from, policy_json, to_json, u};
use crate::storage::{ClientRecord, ClientStore, StorageError};

#[async_trait]
impl ClientStore for PostgresStorage {
    async fn insert_client(&self, client: ClientRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO clients (client_id, secret_hash, metadata, issued_at, policy, used_at, registration_token_hash, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT DO NOTHING",
                &[&client.client_id, &client.secret_hash, &to_json(&client.metadata)?, &i(client.issued_at), &policy_json(&client.policy)?, &client.policy.trusted.then(|| i(client.issued_at)), &client.registration_token_hash, &client.last_used_at.map(i)],
            )
            .await?;
        if n == 0 {
            Err(StorageError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StorageError> {
        let c = self.client_conn().await?;
        c.query_opt(
            &format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1"),
            &[&client_id],
        )
        .await?
        .map(|r| client_from(&r))
        .transpose()
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        tx.execute("DELETE FROM consents WHERE client_id = $1", &[&client_id])
            .await?;
        let n = tx
            .execute("DELETE FROM clients WHERE client_id = $1", &[&client_id])
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StorageError> {
        let c = self.client_conn().await?;
        c.query(
            &format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY issued_at, client_id"),
            &[],
        )
        .await?
        .iter()
        .map(client_from)
        .collect()
    }

    async fn client_count(&self) -> Result<usize, StorageError> {
        let c = self.client_conn().await?;
        let n: i64 = c
            .query_one("SELECT count(*) FROM clients", &[])
            .await?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn update_client(&self, client: ClientRecord) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "UPDATE clients SET secret_hash = $2, metadata = $3, policy = $4,
                 used_at = CASE WHEN $5 THEN coalesce(used_at, issued_at) ELSE used_at END,
                 registration_token_hash = $6
                 WHERE client_id = $1",
                &[
                    &client.client_id,
                    &client.secret_hash,
                    &to_json(&client.metadata)?,
                    &policy_json(&client.policy)?,
                    &client.policy.trusted,
                    &client.registration_token_hash,
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn purge_unused_clients(
        &self,
        issued_before: u64,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let c = self.client_conn().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // One statement: the rows are locked as they are chosen, and a
        // consent saved meanwhile (which marks the client used) wins.
        let n: i64 = c
            .query_one(
                "WITH purged AS (
                     DELETE FROM clients WHERE client_id IN (
                         SELECT client_id FROM clients
                         WHERE used_at IS NULL AND issued_at < $1
                         ORDER BY issued_at LIMIT $2
                         FOR UPDATE SKIP LOCKED)
                     AND used_at IS NULL
                     RETURNING client_id),
                 consents_gone AS (
                     DELETE FROM consents WHERE client_id IN (SELECT client_id FROM purged))
                 SELECT count(*) FROM purged",
                &[&i(issued_before), &limit],
            )
            .await?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn touch_client(
        &self,
        client_id: &str,
        now: u64,
        every: u64,
    ) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "UPDATE clients SET last_used_at = $2
                 WHERE client_id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)",
                &[&client_id, &i(now), &i(now.saturating_sub(every))],
            )
            .await?;
        Ok(n > 0)
    }

    async fn reap_idle_clients(
        &self,
        idle_before: u64,
        now: u64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut c = self.client_conn().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let tx = c.transaction().await?;
        // The rows are locked as they are chosen: a token issued meanwhile
        // (which records the use) waits, then finds the client gone.
        let ids: Vec<String> = tx
            .query(
                "DELETE FROM clients WHERE client_id IN (
                     SELECT client_id FROM clients
                     WHERE coalesce((policy::jsonb ->> 'trusted')::boolean, false) = false
                     AND coalesce(last_used_at, used_at, issued_at) < $1
                     ORDER BY coalesce(last_used_at, used_at, issued_at), client_id LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 AND coalesce(last_used_at, used_at, issued_at) < $1
                 RETURNING client_id",
                &[&i(idle_before), &limit],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !ids.is_empty() {
            tx.execute(
                "UPDATE grants SET revoked_at = $2 WHERE client_id = ANY($1) AND revoked_at < granted_at",
                &[&ids, &i(now)],
            )
            .await?;
            tx.execute("DELETE FROM consents WHERE client_id = ANY($1)", &[&ids])
                .await?;
            tx.execute(
                "DELETE FROM upstream_tokens WHERE client_id = ANY($1)",
                &[&ids],
            )
            .await?;
            tx.execute(
                "INSERT INTO revoked_families (family_id, revoked_at)
                 SELECT DISTINCT family_id, $2::BIGINT FROM refresh_tokens
                 WHERE (record::jsonb ->> 'client_id') = ANY($1)
                 ON CONFLICT DO NOTHING",
                &[&ids, &i(now)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<String>, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            "SELECT scope FROM consents WHERE subject = $1 AND client_id = $2 AND resource = $3",
            &[&subject, &client_id, &resource],
        )
        .await?
        .map(|r| r.get(0)))
    }

    async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "WITH used AS (UPDATE clients SET used_at = $5 WHERE client_id = $2 AND used_at IS NULL)
             INSERT INTO consents (subject, client_id, resource, scope, granted_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (subject, client_id, resource) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
            &[&subject, &client_id, &resource, &scope, &i(now)],
        )
        .await?;
        Ok(())
    }
}

fn client_from(row: &tokio_postgres::Row) -> Result<ClientRecord, StorageError> {
    Ok(ClientRecord {
        client_id: row.get(0),
        secret_hash: row.get(1),
        metadata: from_json(row.get::<_, &str>(2))?,
        issued_at: u(row.get(3)),
        policy: policy_from(row.get::<_, Option<&str>>(4))?,
        registration_token_hash: row.get(5),
        last_used_at: row.get::<_, Option<i64>>(6).map(u),
    })
}

const CLIENT_COLUMNS: &str =
    "client_id, secret_hash, metadata, issued_at, policy, registration_token_hash, last_used_at";
