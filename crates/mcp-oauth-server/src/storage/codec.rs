//! What the SQL backends share: JSON columns, integer columns, and the
//! encodings of records that live in more than one column.

use super::{ClientPolicy, RefreshRecord, StorageError};

/// The short name of a stored type, for error messages.
fn what<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    let name = name.split('<').next().unwrap_or(name);
    name.rsplit("::").next().unwrap_or(name)
}

/// A JSON column.
pub(super) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StorageError> {
    serde_json::to_string(v).map_err(|source| StorageError::Encode {
        what: what::<T>(),
        source,
    })
}

/// A JSON column back.
pub(super) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StorageError> {
    serde_json::from_str(s).map_err(|source| StorageError::Corrupt {
        what: what::<T>(),
        source,
    })
}

/// SQL integers are signed 64-bit; our times are `u64` seconds.
pub(super) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An integer column back as `u64` (negative values read as 0).
pub(super) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A policy column value: NULL for the default (untrusted) policy.
pub(super) fn policy_json(policy: &ClientPolicy) -> Result<Option<String>, StorageError> {
    if *policy == ClientPolicy::default() {
        Ok(None)
    } else {
        to_json(policy).map(Some)
    }
}

/// A policy column back.
pub(super) fn policy_from(column: Option<&str>) -> Result<ClientPolicy, StorageError> {
    Ok(column
        .map(from_json::<ClientPolicy>)
        .transpose()?
        .unwrap_or_default())
}

/// A refresh-token row: its JSON record and its `rotated_at` column.
pub(super) fn refresh_from(
    record: &str,
    rotated_at: Option<i64>,
) -> Result<RefreshRecord, StorageError> {
    let mut r: RefreshRecord = from_json(record)?;
    r.rotated_at = rotated_at.map(u);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_column_names_its_type_and_keeps_the_cause() {
        let e = from_json::<RefreshRecord>("{").unwrap_err();
        assert!(
            matches!(
                e,
                StorageError::Corrupt {
                    what: "RefreshRecord",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(std::error::Error::source(&e).is_some());
    }
}
