//! [`KeyStore`]: signing keys.

use super::*;

/// Adding a key retires the previous one.
pub(super) async fn run(s: &dyn Storage) {
    // Keys: adding one retires the previous.
    let key = |kid: &str, at: u64| SigningKeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        pkcs8: "AAAA".into(),
        created_at: at,
        retired_at: None,
    };
    s.add_signing_key(key("k-old", 1), 1).await.unwrap();
    s.add_signing_key(key("k-new", 2), 2).await.unwrap();
    let keys = s.signing_keys().await.unwrap();
    assert_eq!(keys[0].kid, "k-new");
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[1].retired_at, Some(2));
    // Only a retired key can be withdrawn.
    assert!(!s.delete_retired_key("k-new").await.unwrap());
    assert!(!s.delete_retired_key("k-none").await.unwrap());
    s.add_signing_key(key("k-third", 3), 3).await.unwrap();
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
    let key = |kid: &str| SigningKeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        pkcs8: "AAAA".into(),
        created_at: 1,
        retired_at: None,
    };
    assert!(s.add_first_signing_key(key("first")).await.unwrap());
    assert!(!s.add_first_signing_key(key("second")).await.unwrap());
    let kids: Vec<String> = s
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["first"]);
}
