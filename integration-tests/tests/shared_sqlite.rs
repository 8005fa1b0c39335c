//! Instances sharing one SQLite file keep answering from memory only while
//! the file is unchanged: a revocation, or a resource server's changed or
//! removed credentials, made through another connection to the file (another
//! instance, an operator's command) is seen by the next introspection,
//! however warm the caches of the instance asked.

use std::sync::Arc;

use integration_tests::{RESOURCE, TestServer, http};
use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_server::admin::clients::{NewClient, create_client, remove_client, rotate_secret};
use mcp_oauth_server::storage::{self, Storage};
use serde_json::Value;

use crate::flow::{introspect, introspector, login, redeem, register_public};

/// A fresh database file's storage spec.
fn db_spec(name: &str) -> (String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("as.db");
    (format!("sqlite:{}", db.display()), dir)
}

/// Two instances on the file of `spec`, the second with the first's issuer.
async fn two_instances(spec: &str) -> (TestServer, TestServer) {
    let a = TestServer::start_with(storage::open(spec).await.unwrap(), |c| c).await;
    let issuer = a.base.clone();
    let b = TestServer::start_with(storage::open(spec).await.unwrap(), move |mut c| {
        c.issuer = Issuer::parse(issuer).unwrap();
        c
    })
    .await;
    (a, b)
}

/// A new public client of `s` and an access token issued to it.
async fn access_token(s: &TestServer) -> (String, String) {
    let client_id = register_public(s).await;
    let (code, verifier) = login(s, &client_id).await;
    let t: Value = redeem(s, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    (client_id, t["access_token"].as_str().unwrap().to_owned())
}

/// The status and body of an introspection by `id`:`secret`.
async fn introspect_as(s: &TestServer, id: &str, secret: &str, token: &str) -> (u16, Value) {
    let r = http()
        .post(s.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_revocation_on_one_instance_is_seen_at_once_by_another_on_the_same_file() {
    let (spec, dir) = db_spec("shared-revoke");
    let (a, b) = two_instances(&spec).await;
    let rs = introspector(&b).await;
    let (client_id, first) = access_token(&a).await;
    let (_, second) = access_token(&a).await;
    // Warm: b has verified both tokens and found them live, repeatedly.
    for _ in 0..3 {
        assert_eq!(introspect(&b, &rs, &first).await["active"], true);
        assert_eq!(introspect(&b, &rs, &second).await["active"], true);
    }
    // Revoked at a by its client (RFC 7009): inactive at b on the very
    // next call.
    let r = http()
        .post(a.url("/revoke"))
        .form(&[("token", first.as_str()), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&b, &rs, &first).await["active"], false);
    assert_eq!(introspect(&b, &rs, &second).await["active"], true);
    // A person's grants ended by an operator's command on its own
    // connection to the file (another process, as far as SQLite can
    // tell): every instance sees it at once.
    let operator: Arc<dyn Storage> = storage::open(&spec).await.unwrap();
    let claims = a.server.verify_access_token(&second).await.unwrap();
    operator
        .revoke_subject(&claims.sub, integration_tests::now())
        .await
        .unwrap();
    assert_eq!(introspect(&b, &rs, &second).await["active"], false);
    assert_eq!(introspect(&a, &rs, &second).await["active"], false);
    a.stop().await;
    b.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_resource_servers_changed_or_removed_secret_is_refused_at_once() {
    let (spec, dir) = db_spec("shared-rs-secret");
    let (a, b) = two_instances(&spec).await;
    let (_, token) = access_token(&a).await;
    // A resource server the operator created in storage (not in the
    // configuration), through its own connection to the file.
    let operator: Arc<dyn Storage> = storage::open(&spec).await.unwrap();
    let mut request = NewClient::named("stored rs");
    request.resource_server = true;
    request.resources = vec![RESOURCE.to_owned()];
    let created = create_client(operator.as_ref(), request, integration_tests::now())
        .await
        .unwrap();
    let id = created.client_id.clone();
    let old = created.client_secret.unwrap().secret().to_owned();
    for _ in 0..3 {
        let (status, body) = introspect_as(&b, &id, &old, &token).await;
        assert_eq!((status, &body["active"]), (200, &Value::Bool(true)));
    }
    // A wrong secret is refused even while the record is cached.
    let (status, body) = introspect_as(&b, &id, "not-the-secret", &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let rotated = rotate_secret(operator.as_ref(), &id).await.unwrap();
    let new = rotated.client_secret.secret().to_owned();
    for s in [&a, &b] {
        let (status, body) = introspect_as(s, &id, &old, &token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        let (status, body) = introspect_as(s, &id, &new, &token).await;
        assert_eq!((status, &body["active"]), (200, &Value::Bool(true)));
    }
    remove_client(operator.as_ref(), &id, integration_tests::now())
        .await
        .unwrap();
    for s in [&a, &b] {
        let (status, body) = introspect_as(s, &id, &new, &token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
    }
    a.stop().await;
    b.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
