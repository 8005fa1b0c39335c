use std::collections::BTreeMap;
use std::time::Duration;

use mcp_oauth_core::token::Audience;

use super::*;
use crate::storage::{KeyStore, MemoryStorage};

fn claims(exp: u64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "http://as.test".into(),
        sub: "alice".into(),
        aud: Audience::single("http://rs.test/mcp"),
        client_id: "c".into(),
        exp,
        iat: 1,
        jti: "j1".into(),
        nbf: None,
        scope: None,
        auth_time: None,
        extra: BTreeMap::new(),
    }
}

fn policy(alg: SigningAlgorithm) -> KeyPolicy {
    KeyPolicy {
        algorithm: alg,
        ..KeyPolicy::default()
    }
}

const T: u64 = 1_900_000_000;
const DAY: u64 = 86_400;

async fn manager(storage: &MemoryStorage, policy: KeyPolicy, now: u64) -> KeyManager {
    KeyManager::load_or_create(storage, "http://as.test", policy, 3600, now)
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_verify_rotate_persist() {
    for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
        let storage = MemoryStorage::new();
        let km = manager(&storage, policy(alg), T).await;
        assert_eq!(km.signing_alg(), alg);
        let token = km.sign(&claims(100)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, alg.jwt());
        // Verification reads the system clock for `exp`: far-future tokens.
        let live = km.sign(&claims(u64::MAX / 4)).unwrap();
        assert_eq!(km.verify(&live).unwrap().sub, "alice");
        assert!(km.verify(&token).is_none(), "expired by the real clock");
        let mut tampered = live.clone();
        tampered.pop();
        tampered.push(if live.ends_with('A') { 'B' } else { 'A' });
        assert!(km.verify(&tampered).is_none());
        let other = manager(&MemoryStorage::new(), policy(alg), T).await;
        assert!(other.verify(&live).is_none());

        // An immediate rotation: the new kid signs, old tokens verify.
        let old_kid = km.active_kid();
        let next = km.rotate(&storage, T, true).await.unwrap();
        assert_ne!(old_kid, next.kid);
        assert_eq!(km.active_kid(), next.kid);
        assert!(km.verify(&live).is_some());
        assert_eq!(km.jwks()["keys"].as_array().unwrap().len(), 2);

        // A second manager over the same storage loads the same keys.
        let again = manager(&storage, policy(alg), T).await;
        assert_eq!(again.active_kid(), next.kid);
        assert_eq!(again.jwks(), km.jwks());
        // Long after the retirement the old key is gone.
        let later = manager(&storage, policy(alg), T + 7200).await;
        assert_eq!(later.jwks()["keys"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_rotation_is_published_a_day_before_it_signs() {
    let storage = MemoryStorage::new();
    let km = manager(&storage, KeyPolicy::default(), T).await;
    let first = km.active_kid();
    let next = km.rotate(&storage, T, false).await.unwrap();
    assert_eq!(next.activates_at, T + DAY);
    assert_eq!(km.active_kid(), first, "the old key still signs");
    assert_eq!(
        km.jwks()["keys"].as_array().unwrap().len(),
        2,
        "both published"
    );
    assert!(km.knows(&next.kid));
    km.reload(&storage, T + DAY - 1).await.unwrap();
    assert_eq!(km.active_kid(), first);
    km.reload(&storage, T + DAY).await.unwrap();
    assert_eq!(km.active_kid(), next.kid);
    // The old key no longer signs, but is not withdrawn while its tokens
    // live... unless the operator says so; the signing key never is.
    assert_eq!(
        km.withdraw(&storage, &next.kid, T + DAY).await.unwrap(),
        Withdrawal::Active
    );
    assert_eq!(
        km.withdraw(&storage, &first, T + DAY).await.unwrap(),
        Withdrawal::Withdrawn
    );
    assert!(!km.knows(&first));
}

#[tokio::test]
async fn automatic_rotation_runs_once_across_instances() {
    let storage = MemoryStorage::new();
    let p = KeyPolicy {
        rotation: Some(Duration::from_secs(30 * DAY)),
        ..KeyPolicy::default()
    };
    let a = manager(&storage, p.clone(), T).await;
    let b = manager(&storage, p.clone(), T).await;
    assert_eq!(a.maintain(&storage, T + 28 * DAY).await.unwrap(), None);
    let due = T + 29 * DAY;
    let added = a.maintain(&storage, due).await.unwrap().unwrap();
    assert_eq!(added.activates_at, due + DAY);
    assert_eq!(b.maintain(&storage, due).await.unwrap(), None);
    assert_eq!(storage.signing_keys().await.unwrap().len(), 2);
    assert_eq!(a.jwks(), b.jwks());
    // Both switch when the new key's time comes.
    a.maintain(&storage, due + DAY).await.unwrap();
    b.maintain(&storage, due + DAY).await.unwrap();
    assert_eq!(a.active_kid(), added.kid);
    assert_eq!(b.active_kid(), added.kid);
}

#[tokio::test]
async fn a_change_of_algorithm_publishes_the_new_key_ahead() {
    let storage = MemoryStorage::new();
    let es = manager(&storage, policy(SigningAlgorithm::Es256), T).await;
    let ed = manager(&storage, policy(SigningAlgorithm::EdDsa), T).await;
    assert_eq!(ed.signing_alg(), SigningAlgorithm::Es256, "not yet");
    let added = ed.maintain(&storage, T).await.unwrap().unwrap();
    es.reload(&storage, T).await.unwrap();
    assert_eq!(
        ed.published_algs(),
        [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa]
    );
    ed.reload(&storage, added.activates_at).await.unwrap();
    assert_eq!(ed.signing_alg(), SigningAlgorithm::EdDsa);
    // Tokens of either verify at either instance meanwhile.
    let token = ed.sign(&claims(u64::MAX / 4)).unwrap();
    assert!(es.verify(&token).is_some());
}

#[tokio::test]
async fn sealed_keys_need_their_key_encryption_key() {
    let storage = MemoryStorage::new();
    let kek =
        |b: u8| KeyEncryptionKey::from_base64(&base64ct::Base64::encode_string(&[b; 32])).unwrap();
    let sealed = KeyPolicy {
        encryption_key: Some(kek(1)),
        ..KeyPolicy::default()
    };
    let km = manager(&storage, sealed.clone(), T).await;
    let stored = storage.signing_keys().await.unwrap();
    assert!(stored[0].pkcs8.starts_with("sealed.v1."));
    let token = km.sign(&claims(u64::MAX / 4)).unwrap();
    // The same key opens them.
    let again = manager(&storage, sealed, T).await;
    assert!(again.verify(&token).is_some());
    // No key, or another key: the server does not start.
    let err = KeyManager::load_or_create(&storage, "http://as.test", KeyPolicy::default(), 3600, T)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, KeyError::Sealed(_)), "{err}");
    let wrong = KeyPolicy {
        encryption_key: Some(kek(2)),
        ..KeyPolicy::default()
    };
    let err = KeyManager::load_or_create(&storage, "http://as.test", wrong, 3600, T)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, KeyError::WrongEncryptionKey(_)), "{err}");
}
