//! Login throttling: failed logins are counted per account and per client
//! address in a fixed window; past the limit, further attempts are refused
//! with 429 and `Retry-After` until the window ends, whether or not the
//! password is right, so guessing cannot continue. A success clears the
//! account's count.
//!
//! The counters live in process memory: one instance throttles on its
//! own. Several instances share them once the PostgreSQL backend lands.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

/// Limits for [`LoginThrottle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failures allowed per account in one window.
    pub per_account: u32,
    /// Failures allowed per client address in one window.
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

#[derive(Debug, Clone, Copy)]
struct Window {
    start: u64,
    failures: u32,
}

/// Counts failed logins; see the [module documentation](self).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    accounts: Mutex<HashMap<String, Window>>,
    addresses: Mutex<HashMap<String, Window>>,
}

/// Most keys tracked per map before old windows are swept, so a flood of
/// distinct names cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    fn blocked_in(
        map: &Mutex<HashMap<String, Window>>,
        key: &str,
        limit: u32,
        window: u64,
        now: u64,
    ) -> Option<u64> {
        let g = map.lock();
        let w = g.get(key)?;
        let end = w.start + window;
        (w.failures >= limit && now < end).then(|| end - now)
    }

    /// Seconds until `account` or `address` may try again, if either is
    /// over its limit.
    pub fn retry_after(&self, account: &str, address: &str, now: u64) -> Option<u64> {
        let win = self.limits.window.as_secs();
        let a = Self::blocked_in(&self.accounts, account, self.limits.per_account, win, now);
        let b = Self::blocked_in(&self.addresses, address, self.limits.per_address, win, now);
        a.max(b)
    }

    fn bump(map: &Mutex<HashMap<String, Window>>, key: &str, window: u64, now: u64) {
        let mut g = map.lock();
        if g.len() >= MAX_KEYS {
            g.retain(|_, w| w.start + window > now);
        }
        let w = g.entry(key.to_owned()).or_insert(Window {
            start: now,
            failures: 0,
        });
        if w.start + window <= now {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    /// Records a failed login.
    pub fn failure(&self, account: &str, address: &str, now: u64) {
        let win = self.limits.window.as_secs();
        Self::bump(&self.accounts, account, win, now);
        Self::bump(&self.addresses, address, win, now);
    }

    /// Records a successful login: the account's count is cleared.
    pub fn success(&self, account: &str) {
        self.accounts.lock().remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_and_address_limits() {
        let t = LoginThrottle::new(ThrottleLimits {
            per_account: 2,
            per_address: 3,
            window: Duration::from_secs(100),
        });
        assert_eq!(t.retry_after("bob", "1.2.3.4", 0), None);
        t.failure("bob", "1.2.3.4", 0);
        t.failure("bob", "1.2.3.4", 10);
        assert_eq!(
            t.retry_after("bob", "9.9.9.9", 10),
            Some(90),
            "account locked from any address"
        );
        assert_eq!(t.retry_after("amy", "9.9.9.9", 10), None);
        t.failure("amy", "1.2.3.4", 20);
        assert_eq!(
            t.retry_after("carl", "1.2.3.4", 20),
            Some(80),
            "address locked for any account"
        );
        assert_eq!(t.retry_after("bob", "9.9.9.9", 100), None, "window over");
        t.success("amy");
        assert_eq!(t.retry_after("amy", "5.5.5.5", 20), None);
    }
}
