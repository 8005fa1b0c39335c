//! [`KeyStore`]: signing keys.

use super::*;

fn key(kid: &str, at: u64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        pkcs8: "AAAA".into(),
        created_at: at,
        activates_at: at,
        retired_at: None,
    }
}

/// A successor retires the newest key at its own activation; a successor
/// of a key that is no longer the newest is not stored.
pub(super) async fn run(s: &dyn Storage) {
    assert!(s.add_first_signing_key(key("k-old", 1)).await.unwrap());
    let mut next = key("k-new", 2);
    next.activates_at = 50;
    assert!(s.add_signing_key(next, "k-old").await.unwrap());
    let keys = s.signing_keys().await.unwrap();
    assert_eq!(keys[0].kid, "k-new");
    assert_eq!((keys[0].activates_at, keys[0].retired_at), (50, None));
    assert_eq!(keys[1].retired_at, Some(50), "retired when the next signs");
    // Another instance that also saw k-old as the newest adds nothing.
    assert!(!s.add_signing_key(key("k-stale", 3), "k-old").await.unwrap());
    assert!(!s.add_signing_key(key("k-none", 3), "nope").await.unwrap());
    assert_eq!(s.signing_keys().await.unwrap().len(), 2);
    // Only a retired key can be withdrawn.
    assert!(!s.delete_retired_key("k-new").await.unwrap());
    assert!(!s.delete_retired_key("k-none").await.unwrap());
    assert!(s.add_signing_key(key("k-third", 3), "k-new").await.unwrap());
    assert!(s.delete_retired_key("k-old").await.unwrap());
    let kids: Vec<String> = s
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k-third", "k-new"]);
    // With an active key, a first key is not added.
    assert!(!s.add_first_signing_key(key("k-late", 5)).await.unwrap());
    assert_eq!(s.signing_keys().await.unwrap().len(), 2);
}

/// On empty storage, the first key is added once.
pub(super) async fn first_key(s: &dyn Storage) {
    assert!(s.add_first_signing_key(key("first", 1)).await.unwrap());
    assert!(!s.add_first_signing_key(key("second", 1)).await.unwrap());
    let kids: Vec<String> = s
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["first"]);
}
