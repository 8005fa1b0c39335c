//! PostgreSQL storage: codes, refresh families, revocations and subjects ([`GrantStore`]).

use async_trait::async_trait;

use super::PostgresStorage;
use super::spend::{self, insert_refresh_row};
use crate::storage::codec::{from_json, i, refresh_from, to_json, u};
use crate::storage::{
    CodeConsumption, CodeRecord, GrantStore, IssuedFromCode, RefreshRecord, RefreshRotation,
    StorageError, StoredCode, SubjectState,
};

#[async_trait]
impl GrantStore for PostgresStorage {
    async fn insert_code(&self, code: CodeRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO codes (code_hash, record, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&code.code_hash, &to_json(&code)?, &i(code.expires_at)],
            )
            .await?;
        if n == 0 {
            Err(StorageError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn code(&self, code_hash: &str) -> Result<Option<StoredCode>, StorageError> {
        let c = self.client_conn().await?;
        c.query_opt(
            "SELECT record, used, issued FROM codes WHERE code_hash = $1",
            &[&code_hash],
        )
        .await?
        .map(|row| {
            Ok(StoredCode {
                record: from_json(row.get::<_, &str>(0))?,
                used: row.get(1),
                issued: row.get::<_, Option<&str>>(2).map(from_json).transpose()?,
            })
        })
        .transpose()
    }

    async fn consume_code(
        &self,
        code_hash: &str,
        issued: IssuedFromCode,
    ) -> Result<CodeConsumption, StorageError> {
        let c = self.client_conn().await?;
        spend::consume(&c, code_hash, &issued).await
    }

    async fn insert_refresh(&self, token: RefreshRecord) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        insert_refresh_row(&c, &token).await
    }

    async fn refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StorageError> {
        let c = self.client_conn().await?;
        c.query_opt(
            "SELECT record, rotated_at FROM refresh_tokens WHERE token_hash = $1",
            &[&token_hash],
        )
        .await?
        .map(|r| refresh_from(r.get::<_, &str>(0), r.get(1)))
        .transpose()
    }

    async fn rotate_refresh(
        &self,
        token_hash: &str,
        successor: RefreshRecord,
        sealed_successor: String,
        now: u64,
        grace: u64,
    ) -> Result<RefreshRotation, StorageError> {
        let mut c = self.client_conn().await?;
        spend::rotate(
            &mut c,
            token_hash,
            &successor,
            &sealed_successor,
            now,
            grace,
        )
        .await
    }

    async fn revoke_family(&self, family_id: &str, now: u64) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "INSERT INTO revoked_families (family_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&family_id, &i(now)],
        )
        .await?;
        Ok(())
    }

    async fn family_revoked(&self, family_id: &str) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            "SELECT 1 FROM revoked_families WHERE family_id = $1",
            &[&family_id],
        )
        .await?
        .is_some())
    }

    async fn revoke_jti(&self, jti: &str, exp: u64) -> Result<(), StorageError> {
        let c = self.client_conn().await?;
        c.execute(
            "INSERT INTO revoked_jtis (jti, exp) VALUES ($1, $2) ON CONFLICT (jti) DO UPDATE SET exp = excluded.exp",
            &[&jti, &i(exp)],
        )
        .await?;
        Ok(())
    }

    async fn jti_revoked(&self, jti: &str) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        Ok(
            c.query_opt("SELECT 1 FROM revoked_jtis WHERE jti = $1", &[&jti])
                .await?
                .is_some(),
        )
    }

    async fn use_once(&self, key: &str, exp: u64) -> Result<bool, StorageError> {
        let c = self.client_conn().await?;
        let n = c
            .execute(
                "INSERT INTO revoked_jtis (jti, exp) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&key, &i(exp)],
            )
            .await?;
        Ok(n > 0)
    }

    async fn subject(&self, subject: &str) -> Result<SubjectState, StorageError> {
        let c = self.client_conn().await?;
        Ok(c.query_opt(
            "SELECT generation, revoked_at FROM subjects WHERE subject = $1",
            &[&subject],
        )
        .await?
        .map(|r| subject_from(&r))
        .unwrap_or_default())
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<SubjectState, StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        let row = tx
            .query_one(
                "INSERT INTO subjects (subject, generation, revoked_at) VALUES ($1, 1, $2)
                 ON CONFLICT (subject) DO UPDATE SET generation = subjects.generation + 1, revoked_at = $2
                 RETURNING generation, revoked_at",
                &[&subject, &i(now)],
            )
            .await?;
        tx.execute(
            "INSERT INTO revoked_families (family_id, revoked_at)
             SELECT DISTINCT family_id, $2::BIGINT FROM refresh_tokens WHERE subject = $1
             ON CONFLICT DO NOTHING",
            &[&subject, &i(now)],
        )
        .await?;
        tx.execute("DELETE FROM sessions WHERE subject = $1", &[&subject])
            .await?;
        // Their grants end with everything else: no remembered consent lets
        // a later session approve silently. The records go too: the new
        // generation and revocation time above already end what the grants
        // issued, and a new approval, even in this same second, starts
        // afresh.
        tx.execute("DELETE FROM consents WHERE subject = $1", &[&subject])
            .await?;
        tx.execute("DELETE FROM grants WHERE subject = $1", &[&subject])
            .await?;
        tx.execute(
            "DELETE FROM upstream_tokens WHERE subject = $1",
            &[&subject],
        )
        .await?;
        tx.commit().await?;
        Ok(subject_from(&row))
    }

    async fn purge_expired_grants(
        &self,
        now: u64,
        code_retention: u64,
    ) -> Result<(), StorageError> {
        let mut c = self.client_conn().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "DELETE FROM codes WHERE expires_at + $2 <= $1",
            &[&i(now), &i(code_retention)],
        )
        .await?;
        tx.execute(
            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
            &[&i(now)],
        )
        .await?;
        tx.execute(
            "DELETE FROM revoked_families f WHERE NOT EXISTS
             (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.family_id)",
            &[],
        )
        .await?;
        tx.execute("DELETE FROM revoked_jtis WHERE exp <= $1", &[&i(now)])
            .await?;
        tx.execute(
            "DELETE FROM grants WHERE revoked_at > 0 AND revoked_at >= granted_at
             AND revoked_at + 2 * $2::BIGINT <= $1::BIGINT",
            &[&i(now), &i(code_retention)],
        )
        .await?;
        tx.commit().await.map_err(StorageError::from)
    }
}

fn subject_from(row: &tokio_postgres::Row) -> SubjectState {
    SubjectState {
        generation: u(row.get(0)),
        revoked_at: u(row.get(1)),
    }
}
