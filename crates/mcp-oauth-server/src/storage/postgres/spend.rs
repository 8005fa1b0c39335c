//! PostgreSQL storage: the atomic read-modify-writes that decide
//! security, each one statement or one transaction holding a row lock, so
//! instances racing on one code or token get the single-instance outcome:
//! spending a code and rotating a refresh token (whose verdict is
//! [`rotation`]'s).

use deadpool_postgres::GenericClient;

use crate::storage::codec::{from_json, i, refresh_from, to_json};
use crate::storage::policy::{Rotation, rotation};
use crate::storage::{
    CodeConsumption, IssuedFromCode, RefreshRecord, RefreshRotation, StorageError,
};

/// Spends a code in one statement: only one instance can flip `used`,
/// and what the first redemption issues is recorded with it; a later one
/// reads what the first recorded.
pub(super) async fn consume(
    c: &impl GenericClient,
    code_hash: &str,
    issued: &IssuedFromCode,
) -> Result<CodeConsumption, StorageError> {
    // One statement: only one instance can flip `used`, and what the
    // redemption issues is recorded with it.
    if let Some(row) = c
        .query_opt(
            "UPDATE codes SET used = TRUE, issued = $2 WHERE code_hash = $1 AND NOT used RETURNING record",
            &[&code_hash, &to_json(issued)?],
        )
        .await?
    {
        return Ok(CodeConsumption::First(from_json(row.get::<_, &str>(0))?));
    }
    match c
        .query_opt(
            "SELECT record, issued FROM codes WHERE code_hash = $1",
            &[&code_hash],
        )
        .await?
    {
        None => Ok(CodeConsumption::Unknown),
        Some(row) => Ok(CodeConsumption::Replayed {
            record: from_json(row.get::<_, &str>(0))?,
            issued: row.get::<_, Option<&str>>(1).map(from_json).transpose()?,
        }),
    }
}

/// Rotates a refresh token in one transaction holding the token's row
/// lock: reads the token, its family's revocation and its successor, and
/// applies [`rotation`]'s verdict.
pub(super) async fn rotate(
    c: &mut deadpool_postgres::Object,
    token_hash: &str,
    successor: &RefreshRecord,
    sealed_successor: &str,
    now: u64,
    grace: u64,
) -> Result<RefreshRotation, StorageError> {
    let tx = c.transaction().await?;
    // The row lock serializes concurrent rotations of one token.
    let Some(row) = tx
        .query_opt(
            "SELECT record, rotated_at, successor_hash, successor_sealed
             FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            &[&token_hash],
        )
        .await?
    else {
        return Ok(RefreshRotation::Invalid);
    };
    let current = refresh_from(row.get::<_, &str>(0), row.get(1))?;
    let successor_hash: Option<String> = row.get(2);
    let sealed: Option<String> = row.get(3);
    let revoked = tx
        .query_opt(
            "SELECT 1 FROM revoked_families WHERE family_id = $1",
            &[&current.family_id],
        )
        .await?
        .is_some();
    let successor_live = match &successor_hash {
        None => false,
        Some(h) => tx
            .query_opt(
                "SELECT 1 FROM refresh_tokens WHERE token_hash = $1
                 AND rotated_at IS NULL AND expires_at > $2",
                &[h, &i(now)],
            )
            .await?
            .is_some(),
    };
    let out = match rotation(&current, revoked, successor_live, now, grace) {
        Rotation::Invalid => RefreshRotation::Invalid,
        Rotation::Repeat => RefreshRotation::Repeated {
            record: current,
            sealed_successor: sealed.unwrap_or_default(),
        },
        Rotation::Reuse => {
            tx.execute(
                "INSERT INTO revoked_families (family_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&current.family_id, &i(now)],
            )
            .await?;
            RefreshRotation::Reused(current)
        }
        Rotation::Rotate => {
            tx.execute(
                "UPDATE refresh_tokens SET rotated_at = $2, successor_hash = $3, successor_sealed = $4
                 WHERE token_hash = $1",
                &[&token_hash, &i(now), &successor.token_hash, &sealed_successor],
            )
            .await?;
            insert_refresh_row(&tx, successor).await?;
            RefreshRotation::Rotated(current)
        }
    };
    tx.commit().await?;
    Ok(out)
}

/// Inserts a refresh-token row; [`StorageError::Conflict`] if it exists.
pub(super) async fn insert_refresh_row(
    c: &impl GenericClient,
    t: &RefreshRecord,
) -> Result<(), StorageError> {
    let n = c
        .execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, record, rotated_at, expires_at, subject)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &t.token_hash,
                &t.family_id,
                &to_json(t)?,
                &t.rotated_at.map(i),
                &i(t.expires_at),
                &t.subject,
            ],
        )
        .await?;
    if n == 0 {
        Err(StorageError::Conflict)
    } else {
        Ok(())
    }
}
