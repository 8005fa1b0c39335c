//! How often a key set may be fetched again.

use std::time::{Duration, Instant};

/// Least time between two fetches of a key set that a token naming an
/// unknown `kid` may force, while keys are held: 10 seconds.
///
/// Why 10 s: the `kid` is chosen by whoever sends the token, so without a
/// floor every forged token would become a request to the key-set
/// endpoint. One fetch per 10 s is six a minute per key set, which no
/// provider notices, while a key that is used before the cached set knows
/// it (a rotation published late, or a second instance that rotated) is
/// picked up within 10 s rather than failing logins for half a minute or
/// more. It is the verifier's long-standing default; the server's ID-token
/// check (30 s before) and signing-key reload (5 s) used to have their own.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Least time between two attempts while no usable key is held (before the
/// first load, after a failed fetch or an empty set): 1 second. Nothing can
/// be verified until an attempt succeeds, so waiting the full
/// [`DEFAULT_REFETCH_INTERVAL`] would only lengthen the outage; one attempt
/// a second still turns a flood of requests into a trickle of fetches.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Whether the caller holds usable keys, which sets the spacing a
/// [`RefetchGate`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Keys are held: attempts are spaced by the gate's
    /// [`interval`](RefetchGate::interval).
    Loaded,
    /// No usable key is held: attempts are spaced by the shorter
    /// [`retry_interval`](RefetchGate::retry_interval).
    Missing,
}

/// Answers "may I fetch the key set again now?", so that tokens naming
/// unknown keys cannot turn into a fetch each. It keeps the time of the
/// last attempt and nothing else; the caller passes the current time (an
/// [`Instant`], so tests can pass any), and keeps the gate behind
/// whatever lock guards its fetching.
///
/// ```
/// use std::time::{Duration, Instant};
/// use mcp_oauth_core::jose::{KeyState, RefetchGate};
///
/// let mut gate = RefetchGate::new(Duration::from_secs(10))
///     .with_retry_interval(Duration::from_secs(1));
/// let t0 = Instant::now();
/// assert!(gate.try_pass(t0, KeyState::Loaded)); // never fetched: go
/// assert!(!gate.try_pass(t0 + Duration::from_secs(9), KeyState::Loaded));
/// assert!(gate.try_pass(t0 + Duration::from_secs(10), KeyState::Loaded));
///
/// // Without keys the shorter retry spacing applies.
/// let t1 = t0 + Duration::from_secs(10);
/// assert!(!gate.allows(t1 + Duration::from_millis(999), KeyState::Missing));
/// assert!(gate.allows(t1 + Duration::from_secs(1), KeyState::Missing));
/// ```
#[derive(Debug, Clone)]
pub struct RefetchGate {
    interval: Duration,
    retry_interval: Duration,
    last: Option<Instant>,
}

impl Default for RefetchGate {
    /// A gate with [`DEFAULT_REFETCH_INTERVAL`] and
    /// [`DEFAULT_RETRY_INTERVAL`].
    fn default() -> Self {
        Self::new(DEFAULT_REFETCH_INTERVAL).with_retry_interval(DEFAULT_RETRY_INTERVAL)
    }
}

impl RefetchGate {
    /// A gate that has seen no attempt, spacing attempts by `interval`
    /// whether or not keys are held (see
    /// [`with_retry_interval`](Self::with_retry_interval)).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use mcp_oauth_core::jose::{KeyState, RefetchGate};
    ///
    /// let gate = RefetchGate::new(Duration::from_secs(30));
    /// assert_eq!(gate.retry_interval(), Duration::from_secs(30));
    /// assert!(gate.allows(Instant::now(), KeyState::Loaded));
    /// ```
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            retry_interval: interval,
            last: None,
        }
    }

    /// The same gate, spacing attempts by `retry` while no usable key is
    /// held; never by more than [`interval`](Self::interval).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_oauth_core::jose::RefetchGate;
    ///
    /// let short = RefetchGate::new(Duration::from_millis(200))
    ///     .with_retry_interval(Duration::from_secs(1));
    /// assert_eq!(short.retry_interval(), Duration::from_millis(200));
    /// ```
    #[must_use]
    pub fn with_retry_interval(mut self, retry: Duration) -> Self {
        self.retry_interval = retry.min(self.interval);
        self
    }

    /// The spacing while keys are held.
    ///
    /// ```
    /// use mcp_oauth_core::jose::{DEFAULT_REFETCH_INTERVAL, RefetchGate};
    ///
    /// assert_eq!(RefetchGate::default().interval(), DEFAULT_REFETCH_INTERVAL);
    /// ```
    pub const fn interval(&self) -> Duration {
        self.interval
    }

    /// The spacing while no usable key is held.
    ///
    /// ```
    /// use mcp_oauth_core::jose::{DEFAULT_RETRY_INTERVAL, RefetchGate};
    ///
    /// assert_eq!(RefetchGate::default().retry_interval(), DEFAULT_RETRY_INTERVAL);
    /// ```
    pub const fn retry_interval(&self) -> Duration {
        self.retry_interval
    }

    /// Whether an attempt at `now` would be allowed, without recording one:
    /// no attempt yet, or the last one at least the spacing for `keys`
    /// before `now`. A `now` earlier than the last attempt is refused.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use mcp_oauth_core::jose::{KeyState, RefetchGate};
    ///
    /// let mut gate = RefetchGate::new(Duration::from_secs(5));
    /// let t0 = Instant::now();
    /// gate.record(t0);
    /// assert!(!gate.allows(t0 + Duration::from_secs(4), KeyState::Loaded));
    /// assert!(gate.allows(t0 + Duration::from_secs(5), KeyState::Loaded));
    /// ```
    pub fn allows(&self, now: Instant, keys: KeyState) -> bool {
        let spacing = match keys {
            KeyState::Loaded => self.interval,
            KeyState::Missing => self.retry_interval,
        };
        match self.last {
            None => true,
            Some(last) => now
                .checked_duration_since(last)
                .is_some_and(|since| since >= spacing),
        }
    }

    /// Records an attempt (or a fetch made by other means, such as the
    /// first load) at `now`; the next is spaced from it.
    ///
    /// ```
    /// use std::time::Instant;
    /// use mcp_oauth_core::jose::{KeyState, RefetchGate};
    ///
    /// let mut gate = RefetchGate::default();
    /// let loaded_at = Instant::now();
    /// gate.record(loaded_at); // just loaded: no refetch straight away
    /// assert!(!gate.allows(loaded_at, KeyState::Loaded));
    /// ```
    pub fn record(&mut self, now: Instant) {
        self.last = Some(now);
    }

    /// [`allows`](Self::allows) an attempt at `now`, and if so records it:
    /// `true` means "fetch now".
    ///
    /// ```
    /// use std::time::Instant;
    /// use mcp_oauth_core::jose::{KeyState, RefetchGate};
    ///
    /// let mut gate = RefetchGate::default();
    /// let now = Instant::now();
    /// assert!(gate.try_pass(now, KeyState::Loaded));
    /// assert!(!gate.try_pass(now, KeyState::Loaded)); // the second caller waits
    /// ```
    pub fn try_pass(&mut self, now: Instant, keys: KeyState) -> bool {
        let pass = self.allows(now, keys);
        if pass {
            self.record(now);
        }
        pass
    }
}
