//! Login throttling: failed logins are counted per account and per client
//! address in a fixed window; past the limit, further attempts are refused
//! with 429 and `Retry-After` until the window ends, whether or not the
//! password is right, so guessing cannot continue. A success clears the
//! account's count.
//!
//! The counters live in the server's storage, so instances sharing a
//! PostgreSQL database share them: guesses cannot be spread across
//! instances.

use std::time::Duration;

use crate::storage::{Storage, StorageError};

/// Limits of login throttling.
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

fn account_key(account: &str) -> String {
    format!("account:{account}")
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

impl ThrottleLimits {
    async fn wait_for(
        &self,
        storage: &dyn Storage,
        key: &str,
        limit: u32,
        now: u64,
    ) -> Result<Option<u64>, StorageError> {
        let window = self.window.as_secs();
        Ok(storage
            .login_failures(key)
            .await?
            .and_then(|(count, start)| {
                (count >= limit && now < start + window).then(|| start + window - now)
            }))
    }

    /// Seconds until `account` or `address` may try again, if either is
    /// over its limit.
    pub async fn retry_after(
        &self,
        storage: &dyn Storage,
        account: &str,
        address: &str,
        now: u64,
    ) -> Result<Option<u64>, StorageError> {
        let a = self
            .wait_for(storage, &account_key(account), self.per_account, now)
            .await?;
        let b = self
            .wait_for(storage, &address_key(address), self.per_address, now)
            .await?;
        Ok(a.max(b))
    }

    /// Records a failed login.
    pub async fn failure(
        &self,
        storage: &dyn Storage,
        account: &str,
        address: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        let window = self.window.as_secs();
        storage
            .record_login_failure(&account_key(account), now, window)
            .await?;
        storage
            .record_login_failure(&address_key(address), now, window)
            .await
    }

    /// Records a successful login: the account's count is cleared.
    pub async fn success(&self, storage: &dyn Storage, account: &str) -> Result<(), StorageError> {
        storage.clear_login_failures(&account_key(account)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    #[tokio::test]
    async fn account_and_address_limits() {
        let s = MemoryStorage::new();
        let t = ThrottleLimits {
            per_account: 2,
            per_address: 3,
            window: Duration::from_secs(100),
        };
        assert_eq!(t.retry_after(&s, "bob", "1.2.3.4", 0).await.unwrap(), None);
        t.failure(&s, "bob", "1.2.3.4", 0).await.unwrap();
        t.failure(&s, "bob", "1.2.3.4", 10).await.unwrap();
        assert_eq!(
            t.retry_after(&s, "bob", "9.9.9.9", 10).await.unwrap(),
            Some(90),
            "account locked from any address"
        );
        assert_eq!(t.retry_after(&s, "amy", "9.9.9.9", 10).await.unwrap(), None);
        t.failure(&s, "amy", "1.2.3.4", 20).await.unwrap();
        assert_eq!(
            t.retry_after(&s, "carl", "1.2.3.4", 20).await.unwrap(),
            Some(80),
            "address locked for any account"
        );
        assert_eq!(
            t.retry_after(&s, "bob", "9.9.9.9", 100).await.unwrap(),
            None,
            "window over"
        );
        t.success(&s, "amy").await.unwrap();
        assert_eq!(t.retry_after(&s, "amy", "5.5.5.5", 20).await.unwrap(), None);
    }
}
