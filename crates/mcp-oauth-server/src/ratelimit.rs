//! Login throttling: attempts are counted per account and per client
//! address in a fixed window, and counted *before* the password is checked:
//! each attempt first reserves its place with one atomic increment in
//! storage, and only an attempt whose reservation stays within both limits
//! reaches the (costly) password check. A burst of concurrent guesses is
//! therefore cut off exactly at the limit, on one instance or several
//! sharing a PostgreSQL database. Past the limit, attempts are refused with
//! 429 and `Retry-After` until the window ends, whether or not the
//! password is right. A success clears the account's count and gives the
//! address its attempt back.
//!
//! Accounts are keyed by a digest of the name, so the key has a fixed
//! size however long the name (PostgreSQL index entries are limited), and
//! a name that cannot exist costs only the address its attempt.

use std::time::Duration;

use mcp_oauth_core::secret::token_hash;

use crate::storage::{Storage, StorageError};

/// Limits of login throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Attempts allowed per account in one window (successes are given
    /// back).
    pub per_account: u32,
    /// Attempts allowed per client address in one window (successes are
    /// given back).
    pub per_address: u32,
    /// Window length.
    pub window: Duration,
}

impl Default for ThrottleLimits {
    /// 5 failures per account and 20 per address in 15 minutes.
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// A login attempt that may go ahead, holding its place in the counts.
#[derive(Debug)]
#[must_use = "report how the attempt ended"]
pub struct Reservation {
    account: Option<String>,
    address: String,
}

/// What [`ThrottleLimits::reserve`] decided.
#[derive(Debug)]
pub enum Attempt {
    /// Go ahead and check the password.
    Allowed(Reservation),
    /// Over a limit: refuse, and say to retry after this many seconds.
    Throttled {
        /// Seconds until the window ends.
        retry_after: u64,
        /// Whether this is the first attempt refused in the window (the
        /// moment throttling engages; decided by the same atomic count, so
        /// exactly one attempt a window is first, across instances).
        first: bool,
    },
}

fn account_key(account: &str) -> String {
    format!("account:{}", token_hash(account))
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

impl ThrottleLimits {
    /// Reserves one attempt for `address` and, when the name could be an
    /// account (`Some`), for that account. `now` is in seconds.
    pub async fn reserve(
        &self,
        storage: &dyn Storage,
        account: Option<&str>,
        address: &str,
        now: u64,
    ) -> Result<Attempt, StorageError> {
        let window = self.window.as_secs();
        let wait = |start: u64| start.saturating_add(window).saturating_sub(now).max(1);
        let address = address_key(address);
        let (count, start) = storage.bump_counter(&address, now, window).await?;
        if count > self.per_address {
            return Ok(Attempt::Throttled {
                retry_after: wait(start),
                first: count == self.per_address.saturating_add(1),
            });
        }
        let account = account.map(account_key);
        if let Some(key) = &account {
            let (count, start) = storage.bump_counter(key, now, window).await?;
            if count > self.per_account {
                return Ok(Attempt::Throttled {
                    retry_after: wait(start),
                    first: count == self.per_account.saturating_add(1),
                });
            }
        }
        Ok(Attempt::Allowed(Reservation { account, address }))
    }

    /// The password was right: the account starts afresh and the address
    /// gets its attempt back.
    pub async fn succeeded(
        &self,
        storage: &dyn Storage,
        reservation: Reservation,
    ) -> Result<(), StorageError> {
        if let Some(key) = &reservation.account {
            storage.clear_counter(key).await?;
        }
        storage.release_counter(&reservation.address).await
    }

    /// The attempt was not made (the server was too busy to check it):
    /// both counts get it back.
    pub async fn abandoned(
        &self,
        storage: &dyn Storage,
        reservation: Reservation,
    ) -> Result<(), StorageError> {
        if let Some(key) = &reservation.account {
            storage.release_counter(key).await?;
        }
        storage.release_counter(&reservation.address).await
    }

    /// The password was wrong: the reservation stays counted.
    pub fn failed(&self, reservation: Reservation) {
        drop(reservation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{CounterStore, MemoryStorage};

    async fn allowed(
        t: &ThrottleLimits,
        s: &MemoryStorage,
        who: &str,
        addr: &str,
        now: u64,
    ) -> Option<Reservation> {
        match t.reserve(s, Some(who), addr, now).await.unwrap() {
            Attempt::Allowed(r) => Some(r),
            Attempt::Throttled { .. } => None,
        }
    }

    #[tokio::test]
    async fn account_and_address_limits() {
        let s = MemoryStorage::new();
        let t = ThrottleLimits {
            per_account: 2,
            per_address: 3,
            window: Duration::from_secs(100),
        };
        for now in [0, 10] {
            let r = allowed(&t, &s, "bob", "1.2.3.4", now).await.unwrap();
            t.failed(r);
        }
        assert!(
            matches!(
                t.reserve(&s, Some("bob"), "9.9.9.9", 10).await.unwrap(),
                Attempt::Throttled {
                    retry_after: 90,
                    first: true
                }
            ),
            "account locked from any address"
        );
        let r = allowed(&t, &s, "amy", "1.2.3.4", 20).await.unwrap();
        t.failed(r);
        assert!(
            matches!(
                t.reserve(&s, Some("carl"), "1.2.3.4", 20).await.unwrap(),
                Attempt::Throttled {
                    retry_after: 80,
                    first: true
                }
            ),
            "address locked for any account"
        );
        assert!(
            allowed(&t, &s, "bob", "9.9.9.9", 100).await.is_some(),
            "window over"
        );
        let r = allowed(&t, &s, "dan", "5.5.5.5", 20).await.unwrap();
        t.succeeded(&s, r).await.unwrap();
        assert_eq!(
            s.counter(&address_key("5.5.5.5")).await.unwrap(),
            Some((0, 20)),
            "a success gives the address its attempt back"
        );
        // A name that cannot be an account costs the address only.
        let r = t.reserve(&s, None, "6.6.6.6", 0).await.unwrap();
        assert!(matches!(r, Attempt::Allowed(_)));
    }
}
