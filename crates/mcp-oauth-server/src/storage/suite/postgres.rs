//! The PostgreSQL backend: the suite, races between instances, TLS.

use super::*;
use crate::testing::TempDatabase;

#[tokio::test]
async fn postgres_backend() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    {
        let s = PostgresStorage::connect(&db.url, 4).await.unwrap();
        run(&s).await;
        // Two "instances" refreshing one person's upstream token at once.
        let other = PostgresStorage::connect(&db.url, 4).await.unwrap();
        super::vault::one_refresh_wins(&s, &other).await;
        // Migrations are idempotent: a second instance starts on the same schema.
        let again = PostgresStorage::connect(&db.url, 4).await.unwrap();
        assert!(again.client("operator").await.unwrap().is_some());
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

#[tokio::test]
async fn postgres_redeems_a_device_code_once_across_instances() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    {
        let a = PostgresStorage::connect(&db.url, 8).await.unwrap();
        let b = PostgresStorage::connect(&db.url, 8).await.unwrap();
        devices::one_redemption(&a, &b).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_agree_on_the_first_signing_key() {
    for _ in 0..3 {
        let Some(db) = TempDatabase::create().await else {
            return;
        };
        {
            let a = PostgresStorage::connect(&db.url, 4).await.unwrap();
            let b = PostgresStorage::connect(&db.url, 4).await.unwrap();
            let (x, y) = tokio::join!(
                crate::keys::KeyManager::load_or_create(
                    &a,
                    "http://as",
                    Default::default(),
                    900,
                    100
                ),
                crate::keys::KeyManager::load_or_create(
                    &b,
                    "http://as",
                    Default::default(),
                    900,
                    100
                )
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            assert_eq!(x.jwks(), y.jwks(), "both publish the same key set");
            assert_eq!(x.jwks()["keys"].as_array().unwrap().len(), 1);
            assert_eq!(a.signing_keys().await.unwrap().len(), 1);
        }
        db.drop_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_rotating_together_add_one_key() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    {
        let a = PostgresStorage::connect(&db.url, 4).await.unwrap();
        let b = PostgresStorage::connect(&db.url, 4).await.unwrap();
        let t = 1_900_000_000;
        let policy = crate::keys::KeyPolicy::default();
        let x = crate::keys::KeyManager::load_or_create(&a, "http://as", policy.clone(), 900, t)
            .await
            .unwrap();
        let y = crate::keys::KeyManager::load_or_create(&b, "http://as", policy, 900, t)
            .await
            .unwrap();
        for round in 1..=3u64 {
            // Each round both find the next key due at the same moment.
            let due = t + round * 30 * 86_400;
            let (p, q) = tokio::join!(x.maintain(&a, due), y.maintain(&b, due));
            let added = [p.unwrap(), q.unwrap()];
            assert_eq!(added.iter().flatten().count(), 1, "round {round}");
            assert_eq!(a.signing_keys().await.unwrap().len() as u64, round + 1);
            assert_eq!(x.jwks(), y.jwks(), "both publish the same key set");
        }
    }
    db.drop_now().await;
}
