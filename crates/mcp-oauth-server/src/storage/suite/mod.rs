//! One behavioural suite, run against every backend: one file per store,
//! run in one sequence (later steps read what earlier ones stored).

mod account;
mod clients;
mod counters;
mod devices;
mod grants;
mod keys;
#[cfg(feature = "postgres")]
mod postgres;
mod users;
mod vault;

use super::*;
use mcp_oauth_core::registration::ClientMetadata;

pub(super) fn client(id: &str, at: u64) -> ClientRecord {
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
        registration_token_hash: Some(format!("registration-{id}")),
        last_used_at: None,
    }
}

pub(super) fn code(hash: &str, expires_at: u64) -> CodeRecord {
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
        nonce: Some("n-0S6_WzA2Mj".into()),
    }
}

pub(super) fn refresh(hash: &str, family: &str, expires_at: u64) -> RefreshRecord {
    RefreshRecord {
        token_hash: hash.into(),
        family_id: family.into(),
        client_id: "c1".into(),
        subject: "alice".into(),
        subject_generation: 0,
        scope: "mcp".into(),
        resource: None,
        auth_time: 1,
        approved_at: 0,
        expires_at,
        rotated_at: None,
    }
}

/// Every storage contract, in one place.
pub(super) async fn run(s: &dyn Storage) {
    clients::registry(s).await;
    grants::codes_and_refresh(s).await;
    grants::revocations(s).await;
    keys::run(s).await;
    users::users(s).await;
    clients::consents(s).await;
    users::identities(s).await;
    counters::run(s).await;
    grants::purge(s).await;
    clients::purge_unused(s).await;
    counters::purged_with_the_rest(s).await;
    devices::run(s).await;
    account::grants(s).await;
    account::sessions(s).await;
    account::audit(s).await;
    clients::reap_idle(s).await;
    vault::run(s).await;
    vault::ended_with_grants(s).await;
}

#[tokio::test]
async fn memory_backend() {
    run(&MemoryStorage::new()).await;
    keys::first_key(&MemoryStorage::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_redeems_a_device_code_once() {
    let s = MemoryStorage::new();
    devices::one_redemption(&s, &s).await;
    vault::one_refresh_wins(&s, &s).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_backend() {
    run(&SqliteStorage::in_memory().unwrap()).await;
    keys::first_key(&SqliteStorage::in_memory().unwrap()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_redeems_a_device_code_once() {
    let s = SqliteStorage::in_memory().unwrap();
    devices::one_redemption(&s, &s.clone()).await;
    vault::one_refresh_wins(&s, &s.clone()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_survives_reopen() {
    let dir = std::env::temp_dir().join(format!(
        "mcp-oauth-test-{}-{}",
        std::process::id(),
        crate::clock::Clock::now(&crate::clock::SystemClock)
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

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_data_version_moves_with_every_commit_of_any_connection() {
    let dir = std::env::temp_dir().join(format!(
        "mcp-oauth-test-dv-{}-{}",
        std::process::id(),
        crate::clock::Clock::now(&crate::clock::SystemClock)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dv.db");
    let a = SqliteStorage::open(&path).unwrap();
    let b = SqliteStorage::open(&path).unwrap();
    let first = a.data_version().expect("a file database has a stamp");
    assert_eq!(
        a.data_version(),
        Some(first),
        "unchanged while nothing is written"
    );
    // A write through this handle's own connection moves it...
    a.revoke_jti("j1", u64::MAX / 2).await.unwrap();
    let second = a.data_version().unwrap();
    assert_ne!(second, first);
    // ...and so does one through another connection to the file.
    b.revoke_jti("j2", u64::MAX / 2).await.unwrap();
    assert_ne!(a.data_version().unwrap(), second);
    // A private in-memory database has no second connection to watch.
    assert_eq!(SqliteStorage::in_memory().unwrap().data_version(), None);
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(all(feature = "sqlite", unix))]
#[tokio::test]
async fn sqlite_stamp_is_read_where_sqlite_keeps_the_index_behind_a_link() {
    let dir = std::env::temp_dir().join(format!(
        "mcp-oauth-test-dv-link-{}-{}",
        std::process::id(),
        crate::clock::Clock::now(&crate::clock::SystemClock)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (real, link) = (dir.join("real.db"), dir.join("link.db"));
    let a = SqliteStorage::open(&real).unwrap();
    a.revoke_jti("j1", u64::MAX / 2).await.unwrap();
    // The database reached through a link, with a stale index beside the
    // link (as a file moved after a crash would leave): nothing writes to
    // that one, so a stamp read from it would never move.
    std::os::unix::fs::symlink(&real, &link).unwrap();
    std::fs::copy(dir.join("real.db-shm"), dir.join("link.db-shm")).unwrap();
    let b = SqliteStorage::open(&link).unwrap();
    let first = b.data_version().expect("a file database has a stamp");
    a.revoke_jti("j2", u64::MAX / 2).await.unwrap();
    assert_ne!(b.data_version().unwrap(), first, "a commit moves the stamp");
    let _ = std::fs::remove_dir_all(dir);
}
