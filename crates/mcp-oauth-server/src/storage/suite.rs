//! One behavioural suite, run against every backend.

use super::*;
use mcp_oauth_core::registration::ClientMetadata;

fn client(id: &str, at: u64) -> ClientRecord {
    ClientRecord {
        client_id: id.into(),
        secret_hash: Some(format!("hash-{id}")),
        metadata: ClientMetadata {
            client_name: Some(format!("name {id}")),
            redirect_uris: Some(vec!["http://127.0.0.1/cb".into()]),
            ..Default::default()
        },
        issued_at: at,
    }
}

fn code(hash: &str, expires_at: u64) -> CodeRecord {
    CodeRecord {
        code_hash: hash.into(),
        client_id: "c1".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        code_challenge: "x".repeat(43),
        resource: Some("http://rs.test/mcp".into()),
        scope: "mcp".into(),
        subject: "alice".into(),
        auth_time: 1,
        expires_at,
    }
}

fn refresh(hash: &str, family: &str, expires_at: u64) -> RefreshRecord {
    RefreshRecord {
        token_hash: hash.into(),
        family_id: family.into(),
        client_id: "c1".into(),
        subject: "alice".into(),
        scope: "mcp".into(),
        resource: None,
        auth_time: 1,
        expires_at,
        rotated_at: None,
    }
}

/// Every storage contract, in one place.
pub(super) async fn run(s: &dyn Storage) {
    // Clients.
    s.insert_client(client("c1", 10)).await.unwrap();
    s.insert_client(client("c2", 20)).await.unwrap();
    assert!(matches!(
        s.insert_client(client("c1", 30)).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(s.client("c1").await.unwrap(), Some(client("c1", 10)));
    assert_eq!(s.client("nope").await.unwrap(), None);
    assert_eq!(s.client_count().await.unwrap(), 2);
    let ids: Vec<_> = s
        .clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert!(s.delete_client("c2").await.unwrap());
    assert!(!s.delete_client("c2").await.unwrap());

    // Codes: single use, replay reports what was issued.
    s.insert_code(code("k1", 100)).await.unwrap();
    assert!(matches!(
        s.insert_code(code("k1", 100)).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(
        s.consume_code("k1").await.unwrap(),
        CodeConsumption::First(code("k1", 100))
    );
    let issued = IssuedFromCode {
        family_id: Some("f1".into()),
        access_jti: "j1".into(),
        access_exp: 200,
    };
    s.record_code_issuance("k1", issued.clone()).await.unwrap();
    assert_eq!(
        s.consume_code("k1").await.unwrap(),
        CodeConsumption::Replayed {
            record: code("k1", 100),
            issued: Some(issued)
        }
    );
    assert_eq!(
        s.consume_code("unknown").await.unwrap(),
        CodeConsumption::Unknown
    );

    // Refresh rotation, grace, reuse.
    s.insert_refresh(refresh("r1", "f1", 1000)).await.unwrap();
    let out = s
        .rotate_refresh("r1", refresh("r2", "f1", 1000), 100, 5)
        .await
        .unwrap();
    assert_eq!(out, RefreshRotation::Rotated(refresh("r1", "f1", 1000)));
    assert_eq!(
        s.refresh("r1").await.unwrap().unwrap().rotated_at,
        Some(100)
    );
    // Second use of r1 within the grace window: allowed, family stays live.
    let out = s
        .rotate_refresh("r1", refresh("r3", "f1", 1000), 104, 5)
        .await
        .unwrap();
    assert!(matches!(out, RefreshRotation::WithinGrace(_)));
    assert!(!s.family_revoked("f1").await.unwrap());
    // Past the window: reuse, the family is revoked, live tokens die with it.
    let out = s
        .rotate_refresh("r1", refresh("r4", "f1", 1000), 200, 5)
        .await
        .unwrap();
    assert!(matches!(out, RefreshRotation::Reused(_)));
    assert!(s.family_revoked("f1").await.unwrap());
    let out = s
        .rotate_refresh("r2", refresh("r5", "f1", 1000), 201, 5)
        .await
        .unwrap();
    assert_eq!(out, RefreshRotation::Invalid);
    assert_eq!(
        s.rotate_refresh("nope", refresh("r6", "f9", 1000), 1, 5)
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
    // Expired tokens do not rotate.
    s.insert_refresh(refresh("e1", "f2", 50)).await.unwrap();
    assert_eq!(
        s.rotate_refresh("e1", refresh("e2", "f2", 1000), 60, 5)
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
    s.revoke_family("f3").await.unwrap();
    assert!(s.family_revoked("f3").await.unwrap());

    // Access-token revocation.
    s.revoke_jti("j9", 500).await.unwrap();
    assert!(s.jti_revoked("j9").await.unwrap());
    assert!(!s.jti_revoked("j8").await.unwrap());

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

    // Users.
    let user = |n: &str, h: &str| UserRecord {
        username: n.into(),
        password_hash: h.into(),
    };
    s.upsert_user(user("bob", "h1")).await.unwrap();
    s.upsert_user(user("bob", "h2")).await.unwrap();
    s.upsert_user(user("amy", "h3")).await.unwrap();
    assert_eq!(s.user("bob").await.unwrap(), Some(user("bob", "h2")));
    let names: Vec<_> = s
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["amy", "bob"]);
    assert!(s.delete_user("amy").await.unwrap());
    assert_eq!(s.user("amy").await.unwrap(), None);

    // Consent, per user and client; removing the client removes it.
    assert_eq!(s.consent("bob", "c1").await.unwrap(), None);
    s.save_consent("bob", "c1", "mcp").await.unwrap();
    s.save_consent("bob", "c1", "mcp read").await.unwrap();
    assert_eq!(
        s.consent("bob", "c1").await.unwrap().as_deref(),
        Some("mcp read")
    );
    assert_eq!(s.consent("amy", "c1").await.unwrap(), None);
    s.insert_client(client("c3", 30)).await.unwrap();
    s.save_consent("bob", "c3", "mcp").await.unwrap();
    s.delete_client("c3").await.unwrap();
    assert_eq!(s.consent("bob", "c3").await.unwrap(), None);

    // Federated identities: replaced at every sign-in.
    assert_eq!(s.identity("corp:u1").await.unwrap(), None);
    let mut who = super::IdentityRecord {
        subject: "corp:u1".into(),
        provider: "corp".into(),
        email: Some("u1@example.com".into()),
        email_verified: Some(true),
        name: None,
        groups: vec!["staff".into()],
        updated_at: 100,
    };
    s.save_identity(who.clone()).await.unwrap();
    assert_eq!(s.identity("corp:u1").await.unwrap().as_ref(), Some(&who));
    who.groups.clear();
    who.updated_at = 200;
    s.save_identity(who.clone()).await.unwrap();
    assert_eq!(s.identity("corp:u1").await.unwrap(), Some(who));
    assert_eq!(s.identity("corp:u2").await.unwrap(), None);

    // Login failure windows.
    s.record_login_failure("account:bob", 100, 60)
        .await
        .unwrap();
    s.record_login_failure("account:bob", 110, 60)
        .await
        .unwrap();
    assert_eq!(
        s.login_failures("account:bob").await.unwrap(),
        Some((2, 100))
    );
    s.record_login_failure("account:bob", 170, 60)
        .await
        .unwrap(); // window over: restart
    assert_eq!(
        s.login_failures("account:bob").await.unwrap(),
        Some((1, 170))
    );
    s.clear_login_failures("account:bob").await.unwrap();
    assert_eq!(s.login_failures("account:bob").await.unwrap(), None);

    // Purge: expired refresh tokens and revoked jtis go; spent codes stay
    // for the retention window.
    s.purge_expired(300, 1000).await.unwrap();
    assert!(matches!(
        s.consume_code("k1").await.unwrap(),
        CodeConsumption::Replayed { .. }
    ));
    assert_eq!(s.refresh("e1").await.unwrap(), None);
    s.purge_expired(600, 0).await.unwrap();
    assert!(!s.jti_revoked("j9").await.unwrap());
    assert_eq!(
        s.consume_code("k1").await.unwrap(),
        CodeConsumption::Unknown
    );
    s.purge_expired(2000, 0).await.unwrap();
    assert_eq!(s.refresh("r2").await.unwrap(), None);
}

#[tokio::test]
async fn memory_backend() {
    run(&MemoryStorage::new()).await;
}

#[tokio::test]
async fn sqlite_backend() {
    run(&SqliteStorage::in_memory().unwrap()).await;
}

#[tokio::test]
async fn sqlite_survives_reopen() {
    let dir = std::env::temp_dir().join(format!(
        "mcp-oauth-test-{}-{}",
        std::process::id(),
        crate::app::now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("db.sqlite");
    {
        let s = SqliteStorage::open(&path).unwrap();
        s.insert_client(client("c1", 10)).await.unwrap();
        s.insert_refresh(refresh("r1", "f1", u64::MAX / 4))
            .await
            .unwrap();
        s.revoke_jti("j1", u64::MAX / 4).await.unwrap();
    }
    let s = SqliteStorage::open(&path).unwrap();
    assert_eq!(s.client("c1").await.unwrap(), Some(client("c1", 10)));
    assert!(s.refresh("r1").await.unwrap().is_some());
    assert!(s.jti_revoked("j1").await.unwrap());
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

use crate::testing::TempDatabase;

#[tokio::test]
async fn postgres_backend() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    {
        let s = PostgresStorage::connect(&db.url, 4).await.unwrap();
        run(&s).await;
        // Migrations are idempotent: a second instance starts on the same schema.
        let again = PostgresStorage::connect(&db.url, 4).await.unwrap();
        assert!(again.client("c1").await.unwrap().is_some());
    }
    db.drop_now().await;
}

#[tokio::test]
async fn postgres_consumes_a_code_once_under_concurrency() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    {
        // Two "instances" with separate pools.
        let a = PostgresStorage::connect(&db.url, 8).await.unwrap();
        let b = PostgresStorage::connect(&db.url, 8).await.unwrap();
        for round in 0..25 {
            let hash = format!("race-{round}");
            a.insert_code(code(&hash, u64::MAX / 4)).await.unwrap();
            let (x, y) = tokio::join!(a.consume_code(&hash), b.consume_code(&hash));
            let firsts = [x.unwrap(), y.unwrap()]
                .iter()
                .filter(|c| matches!(c, CodeConsumption::First(_)))
                .count();
            assert_eq!(firsts, 1, "round {round}");
            // Refresh races: one rotation, the other sees it spent.
            let t = format!("rt-{round}");
            a.insert_refresh(refresh(&t, &format!("fam-{round}"), u64::MAX / 4))
                .await
                .unwrap();
            let (x, y) = tokio::join!(
                a.rotate_refresh(
                    &t,
                    refresh(&format!("{t}-a"), &format!("fam-{round}"), u64::MAX / 4),
                    100,
                    0
                ),
                b.rotate_refresh(
                    &t,
                    refresh(&format!("{t}-b"), &format!("fam-{round}"), u64::MAX / 4),
                    200,
                    0
                ),
            );
            let outcomes = [x.unwrap(), y.unwrap()];
            let rotated = outcomes
                .iter()
                .filter(|o| matches!(o, RefreshRotation::Rotated(_)))
                .count();
            assert_eq!(rotated, 1, "round {round}: {outcomes:?}");
        }
    }
    db.drop_now().await;
}
