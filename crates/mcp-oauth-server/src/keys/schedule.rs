//! The key timeline, as pure functions of the stored records and the time,
//! so that every instance reading the same storage at the same time
//! agrees on which keys are published, which one signs, and whether the
//! next rotation is due.
//!
//! A key is published from its creation; it signs from `activates_at`
//! until `retired_at` (its successor's `activates_at`); it stays published
//! until every token it signed has expired (`retired_at` plus the longest
//! token lifetime).

use super::material::SigningAlgorithm;
use super::policy::KeyPolicy;
use crate::storage::SigningKeyRecord;

/// Whether `key` is in the JWKS at `now`, for tokens living at most
/// `max_token_life` seconds.
pub(super) fn published(key: &SigningKeyRecord, now: u64, max_token_life: u64) -> bool {
    key.retired_at
        .is_none_or(|t| now <= t.saturating_add(max_token_life))
}

/// The key that signs at `now`: of the keys whose signing window holds
/// `now`, the one activated last; failing any (a key withdrawn from the
/// middle of the schedule, or clocks a little apart), the one activated
/// last before `now`, so that a key never signs before its time; failing
/// that too, the newest. `keys` come newest first, as storage lists them:
/// between keys alike to the second, the newer one wins.
pub(super) fn signing(keys: &[SigningKeyRecord], now: u64) -> Option<&SigningKeyRecord> {
    let activated = |k: &&SigningKeyRecord| k.activates_at <= now;
    // `max_by_key` keeps the last of equals: walk oldest first.
    keys.iter()
        .rev()
        .filter(activated)
        .filter(|k| k.retired_at.is_none_or(|t| now < t))
        .max_by_key(|k| (k.activates_at, k.created_at))
        .or_else(|| {
            keys.iter()
                .rev()
                .filter(activated)
                .max_by_key(|k| (k.activates_at, k.created_at))
        })
        .or_else(|| keys.iter().find(|k| k.retired_at.is_none()))
}

/// The newest key (the one without a retirement time).
pub(super) fn newest(keys: &[SigningKeyRecord]) -> Option<&SigningKeyRecord> {
    keys.iter().find(|k| k.retired_at.is_none())
}

/// If a new key is due at `now`, the `kid` it succeeds and when it starts
/// to sign: when the newest key has signed for the rotation period less
/// the publication time, or is of another algorithm than the policy's.
/// Nothing is due while a successor waits to sign.
pub(super) fn due(
    keys: &[SigningKeyRecord],
    policy: &KeyPolicy,
    now: u64,
) -> Option<(String, u64)> {
    let newest = newest(keys)?;
    if newest.activates_at > now {
        return None;
    }
    let ahead = policy.publish_ahead.as_secs();
    let other_algorithm = newest.alg.parse::<SigningAlgorithm>().ok() != Some(policy.algorithm);
    let aged = policy.rotation.is_some_and(|period| {
        now.saturating_add(ahead) >= newest.activates_at.saturating_add(period.as_secs())
    });
    (other_algorithm || aged).then(|| (newest.kid.clone(), now.saturating_add(ahead)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(kid: &str, activates: u64, retired: Option<u64>) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            alg: "ES256".into(),
            pkcs8: String::new(),
            created_at: activates.saturating_sub(10),
            activates_at: activates,
            retired_at: retired,
        }
    }

    fn policy(days: u64, ahead: u64) -> KeyPolicy {
        KeyPolicy {
            rotation: Some(Duration::from_secs(days * 86_400)),
            publish_ahead: Duration::from_secs(ahead),
            ..KeyPolicy::default()
        }
    }

    #[test]
    fn a_successor_is_published_before_it_signs_and_its_predecessor_after() {
        // Newest first, as storage lists them.
        let keys = [key("b", 1000, None), key("a", 100, Some(1000))];
        assert_eq!(signing(&keys, 999).unwrap().kid, "a");
        assert_eq!(signing(&keys, 1000).unwrap().kid, "b");
        assert!(published(&keys[0], 500, 60), "b is out ahead");
        assert!(published(&keys[1], 1060, 60), "a until its tokens expire");
        assert!(!published(&keys[1], 1061, 60));
    }

    #[test]
    fn rotation_is_due_once_a_key_has_signed_its_period_less_the_lead() {
        let p = policy(30, 86_400);
        let keys = [key("a", 0, None)];
        assert_eq!(due(&keys, &p, 29 * 86_400 - 1), None);
        assert_eq!(due(&keys, &p, 29 * 86_400), Some(("a".into(), 30 * 86_400)));
        // While the successor waits, nothing more is due.
        let keys = [key("b", 30 * 86_400, None), key("a", 0, Some(30 * 86_400))];
        assert_eq!(due(&keys, &p, 29 * 86_400 + 5), None);
        // Without automatic rotation nothing is due, unless the algorithm
        // changed.
        let mut manual = p.clone();
        manual.rotation = None;
        assert_eq!(due(&[key("a", 0, None)], &manual, u64::MAX / 2), None);
        manual.algorithm = SigningAlgorithm::EdDsa;
        assert_eq!(
            due(&[key("a", 0, None)], &manual, 5),
            Some(("a".into(), 86_405))
        );
    }

    #[test]
    fn an_immediate_rotation_over_a_waiting_successor_signs_at_once() {
        // a signs until 2000, b waits for 2000, c was made at once at 1500.
        let keys = [
            key("c", 1500, None),
            key("b", 2000, Some(1500)),
            key("a", 100, Some(2000)),
        ];
        assert_eq!(signing(&keys, 1500).unwrap().kid, "c");
        assert_eq!(signing(&keys, 2500).unwrap().kid, "c");
    }

    #[test]
    fn between_keys_alike_to_the_second_the_newer_signs() {
        // An immediate rotation in the second the first key and its
        // waiting successor were made, listed newest first as storage does.
        let t = 1_000;
        let alike = |kid: &str, activates, retired| SigningKeyRecord {
            created_at: t,
            ..key(kid, activates, retired)
        };
        let keys = [
            alike("third", t, None),
            alike("second", t + 86_400, Some(t)),
            alike("first", t, Some(t + 86_400)),
        ];
        assert_eq!(signing(&keys, t).map(|k| k.kid.as_str()), Some("third"));
    }

    #[test]
    fn a_gap_in_the_schedule_never_lets_a_key_sign_early() {
        // b (waiting for 2000) was withdrawn; a retired at 1000, c signs
        // from 3000: until then a signs on, not c.
        let keys = [key("c", 3000, None), key("a", 100, Some(1000))];
        assert_eq!(signing(&keys, 1500).unwrap().kid, "a");
        assert_eq!(signing(&keys, 3000).unwrap().kid, "c");
    }
}
