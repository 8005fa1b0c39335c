//! Time, in one place: every expiry, window and timestamp of the server is
//! read from a [`Clock`], so that an embedder (or a test) can run the server
//! on a time of its own.
//!
//! ```
//! use mcp_oauth_server::clock::{Clock, SystemClock};
//!
//! let now = SystemClock.now();
//! assert!(now > 1_700_000_000);
//! ```

use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use mcp_oauth_server::clock::Clock;
///
/// /// A clock a test moves by hand.
/// #[derive(Debug, Default)]
/// struct Manual(AtomicU64);
///
/// impl Clock for Manual {
///     fn now(&self) -> u64 {
///         self.0.load(Ordering::Relaxed)
///     }
/// }
///
/// let clock = Manual::default();
/// clock.0.store(1_000, Ordering::Relaxed);
/// assert_eq!(clock.now(), 1_000);
/// ```
pub trait Clock: Debug + Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The operating system's wall clock.
///
/// ```
/// use mcp_oauth_server::clock::{Clock, SystemClock};
///
/// let a = SystemClock.now();
/// assert!(SystemClock.now() >= a);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}
