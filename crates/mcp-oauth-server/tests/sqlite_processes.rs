//! Server processes sharing one SQLite file answer introspection from
//! memory only while the file is unchanged (the stamp is read from the
//! file's WAL index, which every commit of every process rewrites): a
//! revocation made by another server process, or by an operator's command
//! in a process of its own, is seen by the next introspection at every
//! instance, however warm its caches.

#![allow(clippy::unwrap_used, clippy::zombie_processes, missing_docs)]

mod support;

use serde_json::Value;
use support::{Server, admin, http, json_line, serve, serve_with};

const RESOURCE: &str = "http://127.0.0.1:8000/mcp";

/// A client created by the operator's command: its id and secret.
fn client(db: &std::path::Path, args: &[&str]) -> (String, String) {
    let mut all = vec!["client", "add"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--resource", RESOURCE, "--json"]);
    let (ok, out, err) = admin(db, &all);
    assert!(ok, "{err}");
    let created = json_line(&out);
    (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// An access token for the resource, by the client credentials grant.
async fn token(s: &Server, (id, secret): &(String, String)) -> String {
    let r = http()
        .post(format!("{}/token", s.base))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Whether `s` says `token` is active, asked by the resource server.
async fn active(s: &Server, (id, secret): &(String, String), token: &str) -> bool {
    let r = http()
        .post(format!("{}/introspect", s.base))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["active"] == true
}

#[tokio::test]
async fn a_revocation_by_any_process_is_seen_at_once_by_every_warm_instance() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-sqlite-procs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("as.db");
    let a = serve(&db).await;
    // Behind one name, as behind a load balancer.
    let b = serve_with(&db, &["--issuer", &a.base]).await;
    let rs = client(&db, &["Reports API", "--resource-server"]);
    let service = client(&db, &["Nightly job", "--grant", "client_credentials"]);
    let first = token(&a, &service).await;
    let second = token(&a, &service).await;
    // Warm: each instance has verified both tokens and found them live,
    // repeatedly, with nothing written since.
    for _ in 0..3 {
        for s in [&a, &b] {
            assert!(active(s, &rs, &first).await);
            assert!(active(s, &rs, &second).await);
        }
    }
    // Revoked at A by its client (RFC 7009): inactive at B on the very
    // next call; the other token is untouched.
    let r = http()
        .post(format!("{}/revoke", a.base))
        .basic_auth(&service.0, Some(&service.1))
        .form(&[("token", first.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!active(&b, &rs, &first).await);
    assert!(active(&b, &rs, &second).await);
    // Revoked by the operator's command (for the same issuer), a process
    // of its own that has exited by now: inactive at both instances on the
    // next call.
    let (ok, _, err) = admin(&db, &["--issuer", &a.base, "token", "revoke", &second]);
    assert!(ok, "{err}");
    assert!(!active(&a, &rs, &second).await);
    assert!(!active(&b, &rs, &second).await);
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
}
