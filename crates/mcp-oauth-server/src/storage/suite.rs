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
        policy: ClientPolicy::default(),
    }
}

fn code(hash: &str, expires_at: u64) -> CodeRecord {
    CodeRecord {
        code_hash: hash.into(),
        client_id: "c1".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        redirect_uri_sent: true,
        code_challenge: "x".repeat(43),
        resource: Some("http://rs.test/mcp".into()),
        scope: "mcp".into(),
        subject: "alice".into(),
        subject_generation: 0,
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
        subject_generation: 0,
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
    // A trusted client keeps its policy; updates replace secret and policy.
    let mut trusted = client("t1", 15);
    trusted.policy = ClientPolicy {
        trusted: true,
        resources: vec!["http://rs.test/mcp".into()],
        resource_server: true,
        headless_login: false,
    };
    s.insert_client(trusted.clone()).await.unwrap();
    assert_eq!(s.client("t1").await.unwrap(), Some(trusted.clone()));
    trusted.secret_hash = Some("rotated".into());
    assert!(s.update_client(trusted.clone()).await.unwrap());
    assert_eq!(s.client("t1").await.unwrap(), Some(trusted));
    assert!(!s.update_client(client("nobody", 1)).await.unwrap());

    // Codes: read without spending; spent once, recording what they issue;
    // a replay reports it.
    s.insert_code(code("k1", 100)).await.unwrap();
    assert!(matches!(
        s.insert_code(code("k1", 100)).await,
        Err(StorageError::Conflict)
    ));
    let unspent = s.code("k1").await.unwrap().unwrap();
    assert_eq!(
        (unspent.record, unspent.used, unspent.issued),
        (code("k1", 100), false, None)
    );
    let issued = IssuedFromCode {
        family_id: Some("f1".into()),
        access_jti: "j1".into(),
        access_exp: 200,
    };
    assert_eq!(
        s.consume_code("k1", issued.clone()).await.unwrap(),
        CodeConsumption::First(code("k1", 100))
    );
    let spent = s.code("k1").await.unwrap().unwrap();
    assert!(spent.used);
    assert_eq!(spent.issued.as_ref(), Some(&issued));
    assert_eq!(
        s.consume_code("k1", issued.clone()).await.unwrap(),
        CodeConsumption::Replayed {
            record: code("k1", 100),
            issued: Some(issued.clone())
        }
    );
    assert_eq!(
        s.consume_code("unknown", issued.clone()).await.unwrap(),
        CodeConsumption::Unknown
    );
    assert_eq!(s.code("unknown").await.unwrap(), None);

    // Refresh rotation: a retry within the grace window gets the same
    // (sealed) successor and stores nothing; once the successor is used,
    // or past the window, presenting the spent token is reuse.
    s.insert_refresh(refresh("r1", "f1", 1000)).await.unwrap();
    let out = s
        .rotate_refresh("r1", refresh("r2", "f1", 1000), "sealed-r2".into(), 100, 5)
        .await
        .unwrap();
    assert_eq!(out, RefreshRotation::Rotated(refresh("r1", "f1", 1000)));
    assert_eq!(
        s.refresh("r1").await.unwrap().unwrap().rotated_at,
        Some(100)
    );
    let out = s
        .rotate_refresh("r1", refresh("r3", "f1", 1000), "sealed-r3".into(), 104, 5)
        .await
        .unwrap();
    let RefreshRotation::Repeated {
        sealed_successor, ..
    } = out
    else {
        panic!("expected a repeat, got {out:?}");
    };
    assert_eq!(sealed_successor, "sealed-r2", "the same successor");
    assert_eq!(s.refresh("r3").await.unwrap(), None, "no fork stored");
    assert!(!s.family_revoked("f1").await.unwrap());
    // The successor is used; the spent token presented again (even within
    // the window) is reuse, and the family dies.
    assert!(matches!(
        s.rotate_refresh("r2", refresh("r4", "f1", 1000), "sealed-r4".into(), 104, 5)
            .await
            .unwrap(),
        RefreshRotation::Rotated(_)
    ));
    let out = s
        .rotate_refresh("r1", refresh("r5", "f1", 1000), "x".into(), 105, 5)
        .await
        .unwrap();
    assert!(matches!(out, RefreshRotation::Reused(_)), "{out:?}");
    assert!(s.family_revoked("f1").await.unwrap());
    let out = s
        .rotate_refresh("r4", refresh("r6", "f1", 1000), "x".into(), 106, 5)
        .await
        .unwrap();
    assert_eq!(
        out,
        RefreshRotation::Invalid,
        "live tokens die with the family"
    );
    // Past the window, a spent token is reuse even if its successor is unused.
    s.insert_refresh(refresh("g1", "fg", 1000)).await.unwrap();
    s.rotate_refresh("g1", refresh("g2", "fg", 1000), "s".into(), 100, 5)
        .await
        .unwrap();
    assert!(matches!(
        s.rotate_refresh("g1", refresh("g3", "fg", 1000), "s".into(), 200, 5)
            .await
            .unwrap(),
        RefreshRotation::Reused(_)
    ));
    assert_eq!(
        s.rotate_refresh("nope", refresh("r7", "f9", 1000), "x".into(), 1, 5)
            .await
            .unwrap(),
        RefreshRotation::Invalid
    );
    // Expired tokens do not rotate.
    s.insert_refresh(refresh("e1", "f2", 50)).await.unwrap();
    assert_eq!(
        s.rotate_refresh("e1", refresh("e2", "f2", 1000), "x".into(), 60, 5)
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
    // Single-use identifiers.
    assert!(s.use_once("assertion:a", 500).await.unwrap());
    assert!(!s.use_once("assertion:a", 500).await.unwrap());

    // Subjects: revocation moves the generation on and ends the families.
    assert_eq!(s.subject("carol").await.unwrap(), SubjectState::default());
    let mut carol = refresh("c-r1", "c-f1", 1000);
    carol.subject = "carol".into();
    s.insert_refresh(carol).await.unwrap();
    let st = s.revoke_subject("carol", 300).await.unwrap();
    assert_eq!(
        st,
        SubjectState {
            generation: 1,
            revoked_at: 300
        }
    );
    assert_eq!(s.subject("carol").await.unwrap(), st);
    assert!(s.family_revoked("c-f1").await.unwrap());
    assert_eq!(
        s.revoke_subject("carol", 310).await.unwrap(),
        SubjectState {
            generation: 2,
            revoked_at: 310
        }
    );

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

    // Consent, per user, client and resource; removing the client
    // removes it.
    let rs = "http://rs.test/mcp";
    assert_eq!(s.consent("bob", "c1", rs).await.unwrap(), None);
    s.save_consent("bob", "c1", rs, "mcp").await.unwrap();
    s.save_consent("bob", "c1", rs, "mcp read").await.unwrap();
    assert_eq!(
        s.consent("bob", "c1", rs).await.unwrap().as_deref(),
        Some("mcp read")
    );
    assert_eq!(
        s.consent("bob", "c1", "http://other.test/mcp")
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.consent("bob", "c1", "").await.unwrap(), None);
    assert_eq!(s.consent("amy", "c1", rs).await.unwrap(), None);
    s.insert_client(client("c3", 30)).await.unwrap();
    s.save_consent("bob", "c3", "", "mcp").await.unwrap();
    s.delete_client("c3").await.unwrap();
    assert_eq!(s.consent("bob", "c3", "").await.unwrap(), None);

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

    // Purge: expired refresh tokens and revoked jtis go; spent codes stay
    // for the retention window.
    s.purge_expired(300, 1000).await.unwrap();
    assert!(s.code("k1").await.unwrap().is_some_and(|c| c.used));
    assert_eq!(s.refresh("e1").await.unwrap(), None);
    s.purge_expired(600, 0).await.unwrap();
    assert!(!s.jti_revoked("j9").await.unwrap());
    assert_eq!(s.code("k1").await.unwrap(), None);
    s.purge_expired(2000, 0).await.unwrap();
    assert_eq!(s.refresh("r2").await.unwrap(), None);

    // Registrations nobody used: the oldest go first, consented and
    // trusted ones never ("c1" and "t1" are older than all of them: "c1"
    // was consented to above, "t1" is trusted).
    for (id, at) in [("u1", 50), ("u2", 40), ("u3", 60), ("u4", 45)] {
        s.insert_client(client(id, at)).await.unwrap();
    }
    s.save_consent("alice", "u4", "", "mcp").await.unwrap();
    assert_eq!(s.purge_unused_clients(55, 1).await.unwrap(), 1);
    assert_eq!(s.client("u2").await.unwrap(), None, "the oldest went first");
    assert_eq!(s.purge_unused_clients(55, 10).await.unwrap(), 1);
    assert_eq!(s.client("u1").await.unwrap(), None);
    assert!(
        s.client("u3").await.unwrap().is_some(),
        "issued after the cut"
    );
    assert!(s.client("u4").await.unwrap().is_some(), "consented to");
    assert!(s.client("t1").await.unwrap().is_some(), "trusted");
    assert!(s.client("c1").await.unwrap().is_some(), "consented to");
    assert_eq!(s.purge_unused_clients(1000, 10).await.unwrap(), 1);
    assert_eq!(s.client("u3").await.unwrap(), None);
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
            let issued = IssuedFromCode {
                family_id: None,
                access_jti: format!("j-{round}"),
                access_exp: 1,
            };
            let (x, y) = tokio::join!(
                a.consume_code(&hash, issued.clone()),
                b.consume_code(&hash, issued.clone())
            );
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
                    "a".into(),
                    100,
                    0
                ),
                b.rotate_refresh(
                    &t,
                    refresh(&format!("{t}-b"), &format!("fam-{round}"), u64::MAX / 4),
                    "b".into(),
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

/// B9: the database holds password hashes and signing keys, so TLS to it
/// verifies the server: against the server's own certificate as root
/// (`verify-ca`) it connects; the same certificate does not name
/// 127.0.0.1 (`verify-full` refuses), and the system roots do not vouch
/// for a self-signed certificate (`require` refuses).
#[tokio::test]
async fn postgres_over_tls_verifies_the_server() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let snakeoil = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let (pg, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let ssl: String = pg.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl != "on" || !std::path::Path::new(snakeoil).exists() {
        eprintln!("PostgreSQL without TLS (ssl = {ssl}): skipping the TLS test");
        db.drop_now().await;
        return;
    }
    let with = |params: &str| format!("{}?{params}", db.url);
    let s = PostgresStorage::connect(
        &with(&format!("sslmode=verify-ca&sslrootcert={snakeoil}")),
        2,
    )
    .await
    .expect("TLS, verified against the server's certificate");
    assert_eq!(s.client("nobody").await.unwrap(), None);
    let encrypted: bool = pg
        .query_one(
            "SELECT bool_or(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get::<_, Option<bool>>(0)
        .unwrap_or(false);
    assert!(encrypted, "the pool's connections use TLS");
    drop(s);
    assert!(
        PostgresStorage::connect(
            &with(&format!("sslmode=verify-full&sslrootcert={snakeoil}")),
            2
        )
        .await
        .is_err(),
        "the certificate does not name 127.0.0.1"
    );
    assert!(
        PostgresStorage::connect(&with("sslmode=require"), 2)
            .await
            .is_err(),
        "the system roots do not vouch for a self-signed certificate"
    );
    db.drop_now().await;
}
