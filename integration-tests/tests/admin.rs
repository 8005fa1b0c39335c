//! The admin HTTP API (`/admin/v1/…`) over real sockets: who gets in (the
//! static token, a trusted client's admin-scoped `client_credentials`
//! token) and who does not (no token, a wrong one, a token without the
//! scope, a person's token, a registered client's), and what each route
//! does to users, clients and keys.

use integration_tests::{AGENT_ID, RESOURCE, TestServer, form_login, http};
use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::pkce::PkceVerifier;
use mcp_oauth_server::storage::MemoryStorage;
use mcp_oauth_server::{AuthServer, ServerConfig};
use serde_json::{Value, json};

use crate::flow::{
    REDIRECT, authorize_url, error_of, get, redeem, redirect_query, refresh, register_public,
};

/// The static admin token of the test servers.
const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123";

/// A server with the admin API on for the static token and bearer tokens.
async fn start() -> TestServer {
    TestServer::start(|c| c.admin_token(ADMIN_TOKEN).admin_bearer_tokens(true)).await
}

fn admin_audience(s: &TestServer) -> String {
    s.url("/admin/v1")
}

async fn call(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = http().request(method, s.url(&format!("/admin/v1{path}")));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

/// A successful admin call's JSON, after checking status and no-store.
async fn ok(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.headers()["cache-control"], "no-store");
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// A client_credentials token request with HTTP Basic.
async fn client_token(
    s: &TestServer,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut f = vec![("grant_type", "client_credentials")];
    f.extend_from_slice(form);
    http()
        .post(s.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&f)
        .send()
        .await
        .unwrap()
}

/// Creates a trusted service client through the API with these scopes;
/// returns (id, secret).
async fn create_service(s: &TestServer, id: &str, scopes: &[&str]) -> (String, String) {
    let created = ok(
        call(
            s,
            reqwest::Method::POST,
            "/clients",
            Some(ADMIN_TOKEN),
            Some(json!({"client_name": id, "client_id": id, "scopes": scopes})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["client_id"], id);
    (
        id.to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// An admin access token for a client created with the `admin` scope.
async fn admin_access_token(s: &TestServer, id: &str, secret: &str) -> String {
    let audience = admin_audience(s);
    let r = client_token(
        s,
        id,
        secret,
        &[("scope", "admin"), ("resource", &audience)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["scope"], "admin");
    t["access_token"].as_str().unwrap().to_owned()
}

/// `user` signs in with `password` for a registered public client;
/// returns the token response.
async fn person_tokens(s: &TestServer, client_id: &str, user: &str, password: &str) -> Value {
    let (url, verifier): (String, PkceVerifier) =
        authorize_url(s, client_id, REDIRECT, Some(RESOURCE));
    let r = form_login(&url, user, password).await;
    assert_eq!(r.status(), 302, "{user} could not sign in");
    let q = redirect_query(&r);
    let r = redeem(s, client_id, get(&q, "code").unwrap(), &verifier).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn admin_api_is_off_unless_configured() {
    let s = TestServer::start(|c| c).await;
    for path in ["/users", "/openapi.json", "/clients", "/keys"] {
        let r = call(&s, reqwest::Method::GET, path, Some(ADMIN_TOKEN), None).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    s.stop().await;
}

#[tokio::test]
async fn admin_token_shorter_than_32_characters_is_refused_at_start() {
    let config = ServerConfig::new(Issuer::parse("http://127.0.0.1:9").unwrap())
        .admin_token("too-short-admin-token");
    let started = AuthServer::new(config, std::sync::Arc::new(MemoryStorage::new())).await;
    assert!(started.is_err());
}

#[tokio::test]
async fn admin_api_refuses_missing_and_wrong_tokens() {
    let s = start().await;
    let r = call(&s, reqwest::Method::GET, "/users", None, None).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        !challenge.contains("error="),
        "RFC 6750 §3.1: no error without a token"
    );
    assert_eq!(error_of(r, 401).await, "invalid_request");

    let wrong = format!("{ADMIN_TOKEN}x");
    let r = call(&s, reqwest::Method::GET, "/users", Some(&wrong), None).await;
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(error_of(r, 401).await, "invalid_token");

    // A refused call changes nothing.
    let r = call(
        &s,
        reqwest::Method::POST,
        "/users",
        Some("not-a-token"),
        Some(json!({"username": "mallory", "password": "x"})),
    )
    .await;
    assert_eq!(error_of(r, 401).await, "invalid_token");
    assert!(s.storage.user("mallory").await.unwrap().is_none());
    s.stop().await;
}

#[tokio::test]
async fn admin_users_add_login_set_password_remove() {
    let s = start().await;
    let list = ok(
        call(&s, reqwest::Method::GET, "/users", Some(ADMIN_TOKEN), None).await,
        200,
    )
    .await;
    assert_eq!(list["users"], json!(["alice"]));

    // Added without a password: one is generated and shown once.
    let added = ok(
        call(
            &s,
            reqwest::Method::POST,
            "/users",
            Some(ADMIN_TOKEN),
            Some(json!({"username": "bob"})),
        )
        .await,
        201,
    )
    .await;
    let password = added["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 20);
    let r = call(
        &s,
        reqwest::Method::POST,
        "/users",
        Some(ADMIN_TOKEN),
        Some(json!({"username": "bob"})),
    )
    .await;
    assert_eq!(error_of(r, 409).await, "already_exists");

    // Bob signs in.
    let client_id = register_public(&s).await;
    let t = person_tokens(&s, &client_id, "bob", &password).await;
    let bob_refresh = t["refresh_token"].as_str().unwrap().to_owned();

    // A new password given: not echoed; Bob's grants end.
    let set = ok(
        call(
            &s,
            reqwest::Method::PUT,
            "/users/bob/password",
            Some(ADMIN_TOKEN),
            Some(json!({"password": "bob's new passphrase"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(set, json!({"username": "bob"}));
    assert_eq!(
        error_of(refresh(&s, &client_id, &bob_refresh).await, 400).await,
        "invalid_grant"
    );
    let t = person_tokens(&s, &client_id, "bob", "bob's new passphrase").await;
    let bob_refresh = t["refresh_token"].as_str().unwrap().to_owned();
    let r = call(
        &s,
        reqwest::Method::PUT,
        "/users/nobody/password",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(error_of(r, 404).await, "not_found");

    // Removed: the refresh token stops working.
    ok(
        call(
            &s,
            reqwest::Method::DELETE,
            "/users/bob",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        204,
    )
    .await;
    assert_eq!(
        error_of(refresh(&s, &client_id, &bob_refresh).await, 400).await,
        "invalid_grant"
    );
    let r = call(
        &s,
        reqwest::Method::DELETE,
        "/users/bob",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(error_of(r, 404).await, "not_found");
    s.stop().await;
}

#[tokio::test]
async fn admin_bad_input_is_a_json_error() {
    let s = start().await;
    let bodies = [
        json!({"username": "corp:bob"}),
        json!({"username": ""}),
        json!({"username": "bob", "password": ""}),
        json!({"username": "bob", "admin": true}),
        json!({"name": "bob"}),
        json!(["bob"]),
    ];
    for body in bodies {
        let r = call(
            &s,
            reqwest::Method::POST,
            "/users",
            Some(ADMIN_TOKEN),
            Some(body.clone()),
        )
        .await;
        assert_eq!(error_of(r, 400).await, "invalid_request", "{body}");
    }
    let r = http()
        .post(s.url("/admin/v1/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "invalid_request");
    for body in [
        json!({"client_name": "x", "grant_types": ["password"]}),
        json!({"client_name": "x", "resource_server": true}),
        json!({"client_name": "x", "token_endpoint_auth_method": "tls_client_auth"}),
        json!({"client_name": "x", "resources": ["not a url"]}),
    ] {
        let r = call(
            &s,
            reqwest::Method::POST,
            "/clients",
            Some(ADMIN_TOKEN),
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(error_of(r, 400).await, "invalid_client_metadata", "{body}");
    }
    let r = http()
        .post(s.url("/admin/v1/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 413).await, "invalid_request");
    let r = call(
        &s,
        reqwest::Method::GET,
        "/nothing-here",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(error_of(r, 404).await, "not_found");
    s.stop().await;
}

#[tokio::test]
async fn admin_clients_create_use_rotate_remove_with_an_admin_client() {
    let s = start().await;
    // Bootstrap: the static token creates the admin client.
    let (admin_id, admin_secret) = create_service(&s, "ops-bot", &["admin"]).await;
    let token = admin_access_token(&s, &admin_id, &admin_secret).await;

    // The admin client creates a service client, which gets tokens.
    let (svc, svc_secret) = {
        let created = ok(
            call(
                &s,
                reqwest::Method::POST,
                "/clients",
                Some(&token),
                Some(json!({"client_name": "nightly job", "scopes": ["mcp"], "resources": [RESOURCE]})),
            )
            .await,
            201,
        )
        .await;
        (
            created["client_id"].as_str().unwrap().to_owned(),
            created["client_secret"].as_str().unwrap().to_owned(),
        )
    };
    let r = client_token(&s, &svc, &svc_secret, &[]).await;
    assert_eq!(r.status(), 200);

    let listed = ok(
        call(&s, reqwest::Method::GET, "/clients", Some(&token), None).await,
        200,
    )
    .await;
    let ids: Vec<&str> = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&svc.as_str()) && ids.contains(&"ops-bot"),
        "{ids:?}"
    );
    assert!(
        !listed.to_string().contains(&svc_secret),
        "no secret in a listing"
    );
    let shown = ok(
        call(
            &s,
            reqwest::Method::GET,
            &format!("/clients/{svc}"),
            Some(&token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(shown["trusted"], true);
    assert_eq!(shown["client_name"], "nightly job");
    assert_eq!(shown["resources"], json!([RESOURCE]));
    assert!(shown.get("client_secret").is_none());

    let r = call(
        &s,
        reqwest::Method::POST,
        "/clients",
        Some(&token),
        Some(json!({"client_name": "again", "client_id": svc})),
    )
    .await;
    assert_eq!(error_of(r, 409).await, "already_exists");

    // Rotation: the old secret fails at once, the new one works.
    let rotated = ok(
        call(
            &s,
            reqwest::Method::POST,
            &format!("/clients/{svc}/secret"),
            Some(&token),
            None,
        )
        .await,
        200,
    )
    .await;
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, svc_secret);
    assert_eq!(
        error_of(client_token(&s, &svc, &svc_secret, &[]).await, 401).await,
        "invalid_client"
    );
    assert_eq!(client_token(&s, &svc, new_secret, &[]).await.status(), 200);
    // A registered (public) client has no secret to rotate.
    let public = register_public(&s).await;
    let r = call(
        &s,
        reqwest::Method::POST,
        &format!("/clients/{public}/secret"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(error_of(r, 400).await, "invalid_request");

    ok(
        call(
            &s,
            reqwest::Method::DELETE,
            &format!("/clients/{svc}"),
            Some(&token),
            None,
        )
        .await,
        204,
    )
    .await;
    let r = call(
        &s,
        reqwest::Method::GET,
        &format!("/clients/{svc}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(error_of(r, 404).await, "not_found");
    let r = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/clients/{svc}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(error_of(r, 404).await, "not_found");

    // Removing the admin client ends its token's access.
    ok(
        call(
            &s,
            reqwest::Method::DELETE,
            "/clients/ops-bot",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        204,
    )
    .await;
    let r = call(&s, reqwest::Method::GET, "/clients", Some(&token), None).await;
    assert_eq!(error_of(r, 401).await, "invalid_token");
    s.stop().await;
}

#[tokio::test]
async fn admin_refuses_tokens_without_the_scope_the_audience_or_from_a_person() {
    let s = start().await;
    let audience = admin_audience(&s);
    // A trusted client without the admin scope: admin audience, no scope.
    let (id, secret) = create_service(&s, "reporter", &["mcp"]).await;
    let r = client_token(
        &s,
        &id,
        &secret,
        &[("scope", "admin"), ("resource", &audience)],
    )
    .await;
    assert_eq!(error_of(r, 400).await, "invalid_scope");
    let r = client_token(
        &s,
        &id,
        &secret,
        &[("scope", "mcp"), ("resource", &audience)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let r = call(
        &s,
        reqwest::Method::GET,
        "/users",
        t["access_token"].as_str(),
        None,
    )
    .await;
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"admin\""),
        "{challenge}"
    );
    assert_eq!(error_of(r, 403).await, "insufficient_scope");

    // An admin client's token for another audience.
    let (admin_id, admin_secret) = create_service(&s, "ops-bot", &["admin"]).await;
    let r = client_token(
        &s,
        &admin_id,
        &admin_secret,
        &[("scope", "admin"), ("resource", RESOURCE)],
    )
    .await;
    let t: Value = r.json().await.unwrap();
    let r = call(
        &s,
        reqwest::Method::GET,
        "/users",
        t["access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(error_of(r, 401).await, "invalid_token");

    // A registered client: no client_credentials, no admin scope, no
    // admin audience for a person's grant, and its tokens are refused.
    let dcr = register_public(&s).await;
    let r = http()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", dcr.as_str()),
            ("scope", "admin"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    for (name, value) in [
        ("scope", "admin"),
        ("scope", "mcp admin"),
        ("resource", audience.as_str()),
    ] {
        let (url, _) = authorize_url(&s, &dcr, REDIRECT, None);
        let url = format!(
            "{url}&{name}={}",
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
        );
        let r = http().get(&url).send().await.unwrap();
        assert_eq!(
            r.status(),
            400,
            "{name}={value} must not reach the login page"
        );
    }
    let t = person_tokens(
        &s,
        &dcr,
        integration_tests::USER,
        integration_tests::PASSWORD,
    )
    .await;
    let r = call(
        &s,
        reqwest::Method::GET,
        "/users",
        t["access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(error_of(r, 401).await, "invalid_token");
    // Nor may the operator's own first-party agent carry a person's admin.
    let (url, _) = authorize_url(&s, AGENT_ID, "http://127.0.0.1/callback", None);
    let r = http()
        .get(format!("{url}&scope=admin"))
        .send()
        .await
        .unwrap();
    // A client the operator vouches for gets the error at its redirect URI.
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=invalid_scope"), "{location}");
    assert!(!location.contains("code="), "{location}");
    s.stop().await;
}

#[tokio::test]
async fn admin_keys_list_and_rotate() {
    let s = start().await;
    let before = ok(
        call(&s, reqwest::Method::GET, "/keys", Some(ADMIN_TOKEN), None).await,
        200,
    )
    .await;
    let keys = before["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0]["kid"].is_string() && keys[0]["retired_at"].is_null());
    assert!(!before.to_string().contains("pkcs8"), "no private key");
    // By default the next key is published a day before it signs.
    let next = ok(
        call(
            &s,
            reqwest::Method::POST,
            "/keys/rotate",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        201,
    )
    .await;
    assert!(next["activates_at"].as_u64().unwrap() >= integration_tests::now() + 23 * 3600);
    let listed = ok(
        call(&s, reqwest::Method::GET, "/keys", Some(ADMIN_TOKEN), None).await,
        200,
    )
    .await;
    let statuses: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["next", "signing"], "{listed}");
    let r = call(
        &s,
        reqwest::Method::POST,
        "/keys/rotate?immediate=maybe",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
    // At once, for a key no longer trusted.
    let rotated = ok(
        call(
            &s,
            reqwest::Method::POST,
            "/keys/rotate?immediate=true",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        201,
    )
    .await;
    let kid = rotated["kid"].as_str().unwrap().to_owned();
    let after = ok(
        call(&s, reqwest::Method::GET, "/keys", Some(ADMIN_TOKEN), None).await,
        200,
    )
    .await;
    let keys = after["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().any(|k| k["kid"] == kid.as_str()
        && k["retired_at"].is_null()
        && k["status"] == "signing"));
    assert!(
        keys.iter()
            .filter(|k| k["kid"] != kid.as_str())
            .all(|k| k["retired_at"].is_number() && k["status"] == "retired")
    );
    // New tokens are signed with the new key and still let the admin in.
    let (id, secret) = create_service(&s, "ops-bot", &["admin"]).await;
    let token = admin_access_token(&s, &id, &secret).await;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &<base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(header).unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], kid.as_str());
    ok(
        call(&s, reqwest::Method::GET, "/keys", Some(&token), None).await,
        200,
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn admin_openapi_document_names_every_route() {
    let s = start().await;
    let r = call(&s, reqwest::Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status(), 401);
    let doc = ok(
        call(
            &s,
            reqwest::Method::GET,
            "/openapi.json",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["servers"][0]["url"], s.base.as_str());
    for (path, method) in [
        ("/admin/v1/users", "get"),
        ("/admin/v1/users", "post"),
        ("/admin/v1/users/{username}", "delete"),
        ("/admin/v1/users/{username}/password", "put"),
        ("/admin/v1/clients", "get"),
        ("/admin/v1/clients", "post"),
        ("/admin/v1/clients/{client_id}", "get"),
        ("/admin/v1/clients/{client_id}", "delete"),
        ("/admin/v1/clients/{client_id}/secret", "post"),
        ("/admin/v1/keys", "get"),
        ("/admin/v1/keys/rotate", "post"),
        ("/admin/v1/keys/{kid}/retire", "post"),
        ("/admin/v1/grants", "get"),
        ("/admin/v1/grants", "delete"),
        ("/admin/v1/users/{username}/sessions", "get"),
        ("/admin/v1/users/{username}/sessions", "delete"),
        ("/admin/v1/audit", "get"),
        ("/admin/v1/openapi.json", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    s.stop().await;
}

#[tokio::test]
async fn admin_grants_sessions_and_audit() {
    let s = start().await;
    let client = register_public(&s).await;
    // A person signs in (a session) and allows the client (a grant).
    let (url, verifier) = authorize_url(&s, &client, REDIRECT, Some(RESOURCE));
    let r = form_login(&url, integration_tests::USER, integration_tests::PASSWORD).await;
    assert_eq!(r.status(), 302);
    let q = redirect_query(&r);
    let r = redeem(&s, &client, get(&q, "code").unwrap(), &verifier).await;
    let tokens: Value = r.json().await.unwrap();
    let (id, secret) = create_service(&s, "ops-grants", &["admin"]).await;
    let bearer = admin_access_token(&s, &id, &secret).await;

    // Who can act for alice: the client, for the resource, remembered.
    let list = ok(
        call(
            &s,
            reqwest::Method::GET,
            "/grants?user=alice",
            Some(&bearer),
            None,
        )
        .await,
        200,
    )
    .await;
    let grants = list["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 1, "{list}");
    assert_eq!(grants[0]["client_id"], client.as_str());
    assert_eq!(grants[0]["resource"], RESOURCE);
    assert_eq!(grants[0]["method"], "password");
    assert_eq!(grants[0]["remembered"], true);
    assert_eq!(grants[0]["live_refresh_families"], 1);
    // Unknown query fields and an unnamed revocation are refused.
    let r = call(
        &s,
        reqwest::Method::GET,
        "/grants?usr=alice",
        Some(&bearer),
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = call(&s, reqwest::Method::DELETE, "/grants", Some(&bearer), None).await;
    assert_eq!(r.status(), 400);
    let r = call(
        &s,
        reqwest::Method::DELETE,
        "/grants?user=alice",
        None,
        None,
    )
    .await;
    assert_eq!(r.status(), 401);

    // Sessions: one, from the login page; ended through the API.
    let sessions = ok(
        call(
            &s,
            reqwest::Method::GET,
            "/users/alice/sessions",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(sessions["sessions"][0]["method"], "password");
    assert_eq!(sessions["sessions"][0]["address"], "127.0.0.1");
    assert!(!sessions.to_string().contains("id_hash"));
    let ended = ok(
        call(
            &s,
            reqwest::Method::DELETE,
            "/users/alice/sessions",
            Some(&bearer),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ended["ended"], 1);

    // Revoke: the agent's refresh fails at once.
    let revoked = ok(
        call(
            &s,
            reqwest::Method::DELETE,
            &format!("/grants?user=alice&client={client}"),
            Some(&bearer),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(revoked["revoked"][0]["client_id"], client.as_str());
    let r = refresh(&s, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");

    // The trail: the person's approval, the admin's changes (by whom) and
    // every admin call, paged.
    let page = ok(
        call(
            &s,
            reqwest::Method::GET,
            "/audit?type=grant_revoked",
            Some(&bearer),
            None,
        )
        .await,
        200,
    )
    .await;
    let event = &page["events"][0];
    assert_eq!(event["details"]["by"], "admin");
    assert_eq!(event["actor_client"], id.as_str());
    assert_eq!(event["client"], client.as_str());
    assert_eq!(event["subject"], "alice");
    // Found by the revoked grant's client as well as by the admin client.
    let by_client = ok(
        call(
            &s,
            reqwest::Method::GET,
            &format!("/audit?type=grant_revoked&client={client}"),
            Some(&bearer),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(by_client["events"].as_array().unwrap().len(), 1);
    let calls = ok(
        call(
            &s,
            reqwest::Method::GET,
            "/audit?type=admin_call&limit=2",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(calls["events"].as_array().unwrap().len(), 2);
    let next = calls["next_after"].as_i64().expect("another page");
    let rest = ok(
        call(
            &s,
            reqwest::Method::GET,
            &format!("/audit?type=admin_call&after={next}&limit=1000"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        200,
    )
    .await;
    let rest = rest["events"].as_array().unwrap();
    assert!(rest.iter().all(|e| e["id"].as_i64().unwrap() > next));
    let paths: Vec<&str> = rest
        .iter()
        .filter_map(|e| e["details"]["path"].as_str())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("/admin/v1/grants")),
        "{paths:?}"
    );
    // The client created through the API and the static token's calls are
    // named as such.
    let created = ok(
        call(
            &s,
            reqwest::Method::GET,
            "/audit?type=client_created",
            Some(&bearer),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(created["events"][0]["subject"], "ops-grants");
    assert_eq!(created["events"][0]["details"]["by"], "admin");
    assert!(created["events"][0]["actor_client"].is_null());
    // Refused calls (no token: 401) are not written to the durable trail;
    // a stranger cannot fill it.
    let all = ok(
        call(
            &s,
            reqwest::Method::GET,
            "/audit?limit=1000",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        200,
    )
    .await;
    let events = all["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["details"]["status"] == 400));
    // Hostile paging: a huge limit is capped, zero and negative positions
    // are harmless, a non-number is a 400.
    for (query, most) in [
        ("limit=100000000", 1000),
        ("limit=0", 1),
        ("after=-5&limit=1", 1),
    ] {
        let page = ok(
            call(
                &s,
                reqwest::Method::GET,
                &format!("/audit?{query}"),
                Some(ADMIN_TOKEN),
                None,
            )
            .await,
            200,
        )
        .await;
        let n = page["events"].as_array().unwrap().len();
        assert!((1..=most).contains(&n), "{query}: {n}");
    }
    let r = call(
        &s,
        reqwest::Method::GET,
        "/audit?limit=many",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(events.iter().all(|e| e["details"]["status"] != 401));
    let text = all.to_string();
    assert!(!text.contains(&secret) && !text.contains(&bearer) && !text.contains(ADMIN_TOKEN));
    s.stop().await;
}

#[tokio::test]
async fn concurrent_adds_of_one_user_make_one_user() {
    let s = start().await;
    let mut adds = tokio::task::JoinSet::new();
    for i in 0..8 {
        let url = s.url("/admin/v1/users");
        adds.spawn(async move {
            http()
                .post(url)
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"username": "racer", "password": format!("password number {i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = adds.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn admin_retires_a_key_and_its_tokens_stop_verifying() {
    let s = start().await;
    // A token signed by the first key.
    let (id, secret) = create_service(&s, "ops-keys", &["admin"]).await;
    let old_token = admin_access_token(&s, &id, &secret).await;
    let first = ok(
        call(&s, reqwest::Method::GET, "/keys", Some(ADMIN_TOKEN), None).await,
        200,
    )
    .await["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    // The active key cannot be withdrawn; an unknown one is 404.
    let r = call(
        &s,
        reqwest::Method::POST,
        &format!("/keys/{first}/retire"),
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(r.status(), 409);
    let r = call(
        &s,
        reqwest::Method::POST,
        "/keys/nope/retire",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    // Rotate: the old token still works (its key is published, retired).
    ok(
        call(
            &s,
            reqwest::Method::POST,
            "/keys/rotate?immediate=true",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        201,
    )
    .await;
    ok(
        call(&s, reqwest::Method::GET, "/keys", Some(&old_token), None).await,
        200,
    )
    .await;
    // Withdraw it: gone from /jwks, and its token no longer lets anyone in,
    // though it was verified (and cached) a moment ago.
    let r = ok(
        call(
            &s,
            reqwest::Method::POST,
            &format!("/keys/{first}/retire"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["kid"], first.as_str());
    let jwks: Value = http()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!jwks.to_string().contains(&first), "{jwks}");
    let r = call(&s, reqwest::Method::GET, "/keys", Some(&old_token), None).await;
    assert_eq!(r.status(), 401);
    let retired = ok(
        call(
            &s,
            reqwest::Method::GET,
            "/audit?type=key_retired",
            Some(ADMIN_TOKEN),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(retired["events"][0]["subject"], first.as_str());
    s.stop().await;
}

#[tokio::test]
async fn a_client_without_a_scope_list_never_gets_the_admin_scope() {
    // Even when the operator lists `admin` among the supported scopes.
    let s = TestServer::start(|c| {
        c.admin_token(ADMIN_TOKEN)
            .admin_bearer_tokens(true)
            .scopes(["mcp", "admin"])
    })
    .await;
    let created = ok(
        call(
            &s,
            reqwest::Method::POST,
            "/clients",
            Some(ADMIN_TOKEN),
            Some(json!({"client_name": "nightly", "client_id": "nightly"})),
        )
        .await,
        201,
    )
    .await;
    let secret = created["client_secret"].as_str().unwrap();
    let audience = admin_audience(&s);
    let r = client_token(
        &s,
        "nightly",
        secret,
        &[("scope", "admin"), ("resource", &audience)],
    )
    .await;
    assert_eq!(error_of(r, 400).await, "invalid_scope");
    // Its other scopes are still every supported one.
    let r = client_token(&s, "nightly", secret, &[("scope", "mcp")]).await;
    assert_eq!(r.status(), 200);
    s.stop().await;
}
