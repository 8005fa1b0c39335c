//! SQLite storage: the atomic read-modify-writes that decide security,
//! each one transaction on the connection's thread: spending a code and
//! rotating a refresh token (whose verdict is [`rotation`]'s).

use rusqlite::{Connection, OptionalExtension, params};

use crate::storage::codec::{from_json, i, refresh_from, to_json};
use crate::storage::policy::{Rotation, rotation};
use crate::storage::{CodeConsumption, CodeRecord, RefreshRecord, RefreshRotation, StorageError};

/// Spends a code in one transaction: the first redemption marks it used
/// and records `issued` (JSON); a later one reads what the first recorded.
pub(super) fn consume(
    c: &mut Connection,
    hash: &str,
    issued: &str,
) -> Result<CodeConsumption, StorageError> {
    let tx = c.transaction()?;
    let row: Option<(String, i64, Option<String>)> = tx
        .query_row(
            "SELECT record, used, issued FROM codes WHERE code_hash = ?1",
            [hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((record, used, recorded)) = row else {
        return Ok(CodeConsumption::Unknown);
    };
    let record: CodeRecord = from_json(&record)?;
    let out = if used != 0 {
        CodeConsumption::Replayed {
            record,
            issued: recorded.as_deref().map(from_json).transpose()?,
        }
    } else {
        tx.execute(
            "UPDATE codes SET used = 1, issued = ?2 WHERE code_hash = ?1",
            params![hash, issued],
        )?;
        CodeConsumption::First(record)
    };
    tx.commit()?;
    Ok(out)
}

/// A refresh token's row as a rotation reads it: record, `rotated_at`,
/// family revoked, sealed successor, successor live.
type RotationRow = (String, Option<i64>, i64, Option<String>, i64);

/// Rotates a refresh token in one transaction: reads the token, its
/// family's revocation and its successor, and applies [`rotation`]'s
/// verdict.
pub(super) fn rotate(
    c: &mut Connection,
    hash: &str,
    successor: &RefreshRecord,
    sealed_successor: &str,
    now: u64,
    grace: u64,
) -> Result<RefreshRotation, StorageError> {
    let tx = c.transaction()?;
    let row: Option<RotationRow> = tx
        .query_row(
            "SELECT t.record, t.rotated_at,
                    EXISTS(SELECT 1 FROM revoked_families f WHERE f.family_id = t.family_id),
                    t.successor_sealed,
                    EXISTS(SELECT 1 FROM refresh_tokens s WHERE s.token_hash = t.successor_hash
                           AND s.rotated_at IS NULL AND s.expires_at > ?2)
             FROM refresh_tokens t WHERE t.token_hash = ?1",
            params![hash, i(now)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((record, rotated_at, revoked, sealed, successor_live)) = row else {
        return Ok(RefreshRotation::Invalid);
    };
    let current = refresh_from(&record, rotated_at)?;
    let out = match rotation(&current, revoked != 0, successor_live != 0, now, grace) {
        Rotation::Invalid => RefreshRotation::Invalid,
        Rotation::Repeat => RefreshRotation::Repeated {
            record: current,
            sealed_successor: sealed.unwrap_or_default(),
        },
        Rotation::Reuse => {
            tx.execute(
                "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at) VALUES (?1, ?2)",
                params![current.family_id, i(now)],
            )?;
            RefreshRotation::Reused(current)
        }
        Rotation::Rotate => {
            tx.execute(
                "UPDATE refresh_tokens SET rotated_at = ?2, successor_hash = ?3, successor_sealed = ?4
                 WHERE token_hash = ?1",
                params![hash, i(now), successor.token_hash, sealed_successor],
            )?;
            insert_refresh_row(&tx, successor)?;
            RefreshRotation::Rotated(current)
        }
    };
    tx.commit()?;
    Ok(out)
}

/// Inserts a refresh-token row; [`StorageError::Conflict`] if it exists.
pub(super) fn insert_refresh_row(
    c: &Connection,
    token: &RefreshRecord,
) -> Result<(), StorageError> {
    let n = c
        .execute(
            "INSERT OR IGNORE INTO refresh_tokens (token_hash, family_id, record, rotated_at, expires_at, subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                token.token_hash,
                token.family_id,
                to_json(token)?,
                token.rotated_at.map(i),
                i(token.expires_at),
                token.subject
            ],
        )?;
    if n == 0 {
        Err(StorageError::Conflict)
    } else {
        Ok(())
    }
}
