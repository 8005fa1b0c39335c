//! The security verdicts the storage backends apply inside their atomic
//! read-modify-write, written once: every backend reads the rows, asks
//! these pure functions what to do, and writes what they say. The
//! cross-backend suite then only has to prove that the reading and writing
//! are atomic.
//!
//! ```
//! use mcp_oauth_server::storage::policy::{Rotation, rotation};
//! use mcp_oauth_server::storage::RefreshRecord;
//!
//! let token = RefreshRecord {
//!     token_hash: "h".into(),
//!     family_id: "f".into(),
//!     client_id: "c".into(),
//!     subject: "alice".into(),
//!     subject_generation: 0,
//!     scope: "mcp".into(),
//!     resource: None,
//!     auth_time: 0,
//!     expires_at: 1_000,
//!     rotated_at: Some(100),
//! };
//! // Spent 3 s ago, successor unused, 10 s grace: a retry gets the same successor.
//! assert_eq!(rotation(&token, false, true, 103, 10), Rotation::Repeat);
//! // The successor has been used since: presenting the spent token again is reuse.
//! assert_eq!(rotation(&token, false, false, 103, 10), Rotation::Reuse);
//! ```

use super::RefreshRecord;

/// What a presented refresh token leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// Live and unspent: spend it and store the successor.
    Rotate,
    /// Spent within the grace window and its successor is still live and
    /// unused: a client retrying a refresh whose answer it lost. Answer
    /// with that same successor; store nothing, so the chain never forks.
    Repeat,
    /// Spent earlier, or spent and its successor already used: someone
    /// holds a copy. Revoke the whole family (RFC 9700 §4.14.2).
    Reuse,
    /// Expired, or its family is revoked: refuse.
    Invalid,
}

/// The verdict on presenting `current` at `now`: `family_revoked` says
/// whether its family was revoked; `successor_live` whether the token that
/// replaced it (if it was spent) exists, is unspent and unexpired; `grace`
/// is the window, in seconds, in which a spent token may be presented
/// again.
pub fn rotation(
    current: &RefreshRecord,
    family_revoked: bool,
    successor_live: bool,
    now: u64,
    grace: u64,
) -> Rotation {
    if family_revoked || current.expires_at <= now {
        return Rotation::Invalid;
    }
    match current.rotated_at {
        None => Rotation::Rotate,
        Some(at) if now.saturating_sub(at) <= grace && successor_live => Rotation::Repeat,
        Some(_) => Rotation::Reuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(rotated_at: Option<u64>, expires_at: u64) -> RefreshRecord {
        RefreshRecord {
            token_hash: "h".into(),
            family_id: "f".into(),
            client_id: "c".into(),
            subject: "s".into(),
            subject_generation: 0,
            scope: "mcp".into(),
            resource: None,
            auth_time: 0,
            expires_at,
            rotated_at,
        }
    }

    #[test]
    fn verdicts() {
        let live = token(None, 100);
        assert_eq!(rotation(&live, false, false, 50, 10), Rotation::Rotate);
        assert_eq!(rotation(&live, true, false, 50, 10), Rotation::Invalid);
        assert_eq!(rotation(&live, false, false, 100, 10), Rotation::Invalid);
        let spent = token(Some(40), 100);
        assert_eq!(rotation(&spent, false, true, 50, 10), Rotation::Repeat);
        assert_eq!(rotation(&spent, false, true, 51, 10), Rotation::Reuse);
        assert_eq!(rotation(&spent, false, false, 41, 10), Rotation::Reuse);
        assert_eq!(rotation(&spent, false, true, 41, 0), Rotation::Reuse);
        assert_eq!(rotation(&spent, true, true, 41, 10), Rotation::Invalid);
    }
}
