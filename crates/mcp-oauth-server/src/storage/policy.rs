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
//!     approved_at: 0,
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
            approved_at: 0,
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

/// What a poll of a device code leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DevicePoll {
    /// No such device code: `invalid_grant`.
    Unknown,
    /// Its codes expired: `expired_token`.
    Expired,
    /// Nobody decided yet: `authorization_pending`.
    Pending,
    /// Polled sooner than the interval: `slow_down` (the interval grew).
    SlowDown,
    /// A person denied it: `access_denied`.
    Denied,
    /// Its tokens were already issued: `invalid_grant` (a replay).
    Redeemed,
    /// Approved, and this poll spends it: issue the tokens for this record
    /// (its state names who approved). Happens once per device code.
    Approved(super::DeviceRecord),
}

/// The verdict of a poll by `client_id` at `now` of `stored` (if the device
/// code is known), and the record to write back (`None`: write nothing). A
/// device code of another client is unknown to this one (and untouched). An
/// approved record is spent by the poll that sees it: the record written
/// back says `Redeemed`, inside the same atomic read-modify-write, so two
/// pollers never both get tokens.
///
/// ```
/// use mcp_oauth_core::device::PollPace;
/// use mcp_oauth_server::storage::policy::{DevicePoll, device_poll};
/// use mcp_oauth_server::storage::{DeviceRecord, DeviceState};
///
/// let record = DeviceRecord {
///     device_code_hash: "h".into(),
///     user_code: "BDFH-KMNP".into(),
///     client_id: "agent".into(),
///     scope: "mcp".into(),
///     resource: None,
///     expires_at: 1_000,
///     pace: PollPace::new(5),
///     state: DeviceState::Pending,
/// };
/// assert_eq!(device_poll(Some(record.clone()), "other", 100).0, DevicePoll::Unknown);
/// let (verdict, written) = device_poll(Some(record), "agent", 100);
/// assert_eq!(verdict, DevicePoll::Pending);
/// let (verdict, _) = device_poll(written, "agent", 102);
/// assert_eq!(verdict, DevicePoll::SlowDown);
/// ```
pub fn device_poll(
    stored: Option<super::DeviceRecord>,
    client_id: &str,
    now: u64,
) -> (DevicePoll, Option<super::DeviceRecord>) {
    use super::DeviceState;
    use mcp_oauth_core::device::Pace;
    let Some(mut record) = stored.filter(|r| r.client_id == client_id) else {
        return (DevicePoll::Unknown, None);
    };
    if record.expires_at <= now {
        return (DevicePoll::Expired, None);
    }
    match record.state {
        DeviceState::Redeemed => (DevicePoll::Redeemed, None),
        DeviceState::Denied => (DevicePoll::Denied, None),
        DeviceState::Approved { .. } => {
            let approved = record.clone();
            record.state = DeviceState::Redeemed;
            (DevicePoll::Approved(approved), Some(record))
        }
        DeviceState::Pending => {
            let verdict = match record.pace.poll(now) {
                Pace::InTime => DevicePoll::Pending,
                Pace::TooFast => DevicePoll::SlowDown,
            };
            (verdict, Some(record))
        }
    }
}

/// Whether a person's decision may be recorded on `record` at `now`: only
/// on a live request nobody has decided yet.
pub fn device_decidable(record: &super::DeviceRecord, now: u64) -> bool {
    record.expires_at > now && record.state == super::DeviceState::Pending
}
