//! Attacks that need nothing but the open registration endpoint: a
//! stranger who registers a client (or serves a metadata document) must not
//! get tokens without a person, read other people's tokens, collect
//! passwords, bounce visitors to a site of its choosing, or read the
//! server's counters. Only clients the operator created are trusted.

use integration_tests::{
    AGENT_ID, METRICS_TOKEN, PASSWORD, RS_ID, RS_SECRET, TestServer, USER, http,
};
use mcp_oauth_core::pkce::PkceVerifier;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_server::OperatorClient;
use serde_json::{Value, json};

use crate::flow::{
    REDIRECT, RESOURCE, SERVICE, error_of, field, introspect, login, redeem, register,
    register_public, service_client,
};

async fn client_credentials(
    s: &TestServer,
    id: &str,
    secret: &str,
    resource: &str,
) -> reqwest::Response {
    http()
        .post(s.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "mcp"),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap()
}

/// Finding 1: open registration plus `client_credentials` minted tokens
/// for anyone. Now a registration asking for it is refused, a registered
/// client cannot use it, and only the operator's client gets a token, for
/// its own resource.
#[tokio::test]
async fn a_stranger_cannot_mint_tokens() {
    let s = TestServer::start(|c| c.client(service_client())).await;
    for grants in [
        json!(["client_credentials"]),
        json!(["authorization_code", "client_credentials"]),
        json!(["urn:ietf:params:oauth:grant-type:jwt-bearer"]),
    ] {
        let r = http()
            .post(s.url("/register"))
            .json(
                &json!({"client_name": "anon", "grant_types": grants, "redirect_uris": [REDIRECT],
                          "token_endpoint_auth_method": "client_secret_basic"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(r, 400).await,
            "invalid_client_metadata",
            "{grants}"
        );
    }
    // A registered confidential client may use the code flow, nothing else.
    let c = register(
        &s,
        json!({"client_name": "anon", "redirect_uris": [REDIRECT],
               "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    let (id, secret) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let r = client_credentials(&s, id, secret, RESOURCE).await;
    assert_eq!(error_of(r, 400).await, "unauthorized_client");
    // The operator's service client gets a token, for its resource only.
    let r = client_credentials(&s, SERVICE.0, SERVICE.1, RESOURCE).await;
    assert_eq!(r.status(), 200);
    let r = client_credentials(&s, SERVICE.0, SERVICE.1, "http://127.0.0.1:9999/other").await;
    assert_eq!(error_of(r, 400).await, "invalid_target");
    s.stop().await;
}

/// Finding 4: any self-registered confidential client could introspect
/// anyone's access and refresh tokens. Now only the operator's resource
/// servers may, for the tokens of the resources they serve, and never a
/// refresh token.
#[tokio::test]
async fn only_resource_servers_introspect_and_only_their_own_tokens() {
    let other = ResourceUri::parse("http://127.0.0.1:8001/mcp").unwrap();
    let s = TestServer::start(|c| {
        c.client(OperatorClient::resource_server(
            "other-rs",
            "other-rs-secret-0123",
            [other],
        ))
        .client(service_client())
    })
    .await;
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    let tokens: Value = redeem(&s, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    // The resource server of RESOURCE sees the access token, not the
    // refresh token.
    let rs = (RS_ID.to_owned(), RS_SECRET.to_owned());
    let info = introspect(&s, &rs, access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], USER);
    assert_eq!(
        introspect(&s, &rs, refresh_token).await,
        json!({"active": false})
    );
    // Another resource server learns nothing about it.
    let other_rs = ("other-rs".to_owned(), "other-rs-secret-0123".to_owned());
    assert_eq!(
        introspect(&s, &other_rs, access).await,
        json!({"active": false})
    );
    // A self-registered confidential client, and a trusted client that is
    // not a resource server, are not allowed to ask at all.
    let c = register(
        &s,
        json!({"client_name": "snoop", "redirect_uris": [REDIRECT],
               "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    for (id, secret) in [
        (
            c["client_id"].as_str().unwrap(),
            c["client_secret"].as_str().unwrap(),
        ),
        (SERVICE.0, SERVICE.1),
    ] {
        let r = http()
            .post(s.url("/introspect"))
            .basic_auth(id, Some(secret))
            .form(&[("token", access)])
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r, 401).await, "invalid_client", "{id}");
    }
    s.stop().await;
}

fn authorize_url(s: &TestServer, client_id: &str, redirect: &str) -> (String, PkceVerifier) {
    crate::flow::authorize_url(s, client_id, redirect, Some(RESOURCE))
}

/// Finding 10: the headless JSON login was the password grant in disguise,
/// for any client, and counted as consent; a form post without the CSRF
/// field slipped through as "headless".
#[tokio::test]
async fn the_headless_login_is_only_for_trusted_first_party_clients() {
    let s = TestServer::start(|c| c).await;
    let stranger = register_public(&s).await;
    let (url, _) = authorize_url(&s, &stranger, REDIRECT);
    // A stranger asking for JSON gets the page a person fills in.
    let r = http()
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "no JSON login for a stranger"
    );
    let html = r.text().await.unwrap();
    let request = field(&html, "request");
    // Posting the password as JSON anyway is refused, without a code.
    let r = http()
        .post(s.url("/login"))
        .json(&json!({"username": USER, "password": PASSWORD, "request": request}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 403).await, "access_denied");
    // So is a form post without the CSRF field (it is not "headless").
    let r = http()
        .post(s.url("/login"))
        .form(&[
            ("username", USER),
            ("password", PASSWORD),
            ("request", &request),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // The operator's first-party agent may log in headlessly…
    let (url, _) = authorize_url(&s, AGENT_ID, "http://127.0.0.1/callback");
    let pending: Value = http()
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http()
        .post(pending["login_endpoint"].as_str().unwrap())
        .json(&json!({"username": USER, "password": PASSWORD, "request": pending["request"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"].to_str().unwrap().contains("code="));
    // …but that approves this one request: nothing is remembered as consent.
    assert_eq!(
        s.storage.consent(USER, AGENT_ID, RESOURCE).await.unwrap(),
        None
    );
    s.stop().await;
}

/// Finding 11: error redirects made the server an open redirector for any
/// self-registered client. Now a stranger's errors are shown on a page with
/// a link back; only a client the operator created is redirected at once.
#[tokio::test]
async fn errors_of_unvetted_clients_are_not_redirected_unasked() {
    let s = TestServer::start(|c| c).await;
    let phish = "https://evil.example/phish";
    let c = register(
        &s,
        json!({"client_name": "x", "redirect_uris": [phish], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let id = c["client_id"].as_str().unwrap();
    let r = http()
        .get(s.url("/authorize"))
        .query(&[("client_id", id), ("response_type", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers().get("location").is_none(),
        "no automatic redirect"
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("Return to evil.example"), "{html}");
    assert!(html.contains("has not been verified"), "{html}");
    // The operator's own client gets the error at once (RFC 6749 §4.1.2.1).
    let r = http()
        .get(s.url("/authorize"))
        .query(&[
            ("client_id", AGENT_ID),
            ("response_type", "x"),
            ("redirect_uri", "http://127.0.0.1/callback"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=unsupported_response_type")
    );
    s.stop().await;
}

/// Finding 17: `/metrics` told anyone how a guessing campaign was going.
/// Off unless the operator sets a token; then only that token reads it.
#[tokio::test]
async fn metrics_are_for_the_operator_only() {
    let s = TestServer::start(|mut c| {
        c.metrics_token = None;
        c
    })
    .await;
    let r = http().get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404, "off by default");
    s.stop().await;
    let s = TestServer::start(|c| c).await;
    for token in [None, Some("wrong-token"), Some("")] {
        let mut r = http().get(s.url("/metrics"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401, "{token:?}");
        assert!(!r.text().await.unwrap().contains("mcp_oauth_"));
    }
    let r = http()
        .get(s.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("mcp_oauth_login_failures_total")
    );
    s.stop().await;
}

/// R6: the page names who vouches for a client, and warns when the answer
/// goes to a program on the person's own computer.
#[tokio::test]
async fn the_login_page_says_who_vouches_for_the_client() {
    let s = TestServer::start(|c| c).await;
    let stranger = register_public(&s).await;
    let (url, _) = authorize_url(&s, &stranger, REDIRECT);
    let html = http().get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("registered itself; its name is not verified"),
        "{html}"
    );
    assert!(html.contains("a program on your own computer"), "{html}");
    let (url, _) = authorize_url(&s, AGENT_ID, "http://127.0.0.1/callback");
    let html = http().get(&url).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("not verified"), "{html}");
    s.stop().await;
}
