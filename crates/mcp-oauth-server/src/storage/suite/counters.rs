//! [`CounterStore`]: windowed counts.

use super::*;

/// Each bump returns the new count; a window that ended restarts.
pub(super) async fn run(s: &dyn Storage) {
    // Counter windows: each bump returns the new count.
    assert_eq!(
        s.bump_counter("account:bob", 100, 60).await.unwrap(),
        (1, 100)
    );
    assert_eq!(
        s.bump_counter("account:bob", 110, 60).await.unwrap(),
        (2, 100)
    );
    assert_eq!(s.counter("account:bob").await.unwrap(), Some((2, 100)));
    s.release_counter("account:bob").await.unwrap();
    assert_eq!(s.counter("account:bob").await.unwrap(), Some((1, 100)));
    assert_eq!(
        s.bump_counter("account:bob", 170, 60).await.unwrap(),
        (1, 170),
        "window over: restart"
    );
    s.clear_counter("account:bob").await.unwrap();
    assert_eq!(s.counter("account:bob").await.unwrap(), None);
    s.release_counter("account:nobody").await.unwrap();

    // Purging forgets windows that started long enough ago.
    s.bump_counter("ip:old", 100, 60).await.unwrap();
    s.bump_counter("ip:new", 900, 60).await.unwrap();
    s.purge_counters(1100, 1000).await.unwrap();
    assert_eq!(s.counter("ip:old").await.unwrap(), None);
    assert_eq!(s.counter("ip:new").await.unwrap(), Some((1, 900)));
}

/// [`Storage::purge_expired`] purges counters too (runs after the grants'
/// purge, which it would disturb).
pub(super) async fn purged_with_the_rest(s: &dyn Storage) {
    s.purge_expired(900 + COUNTER_RETENTION, 0).await.unwrap();
    assert_eq!(s.counter("ip:new").await.unwrap(), None);
}
