//! Shared steps of the authorization-server tests: register, authorize
//! with a headless login, redeem, refresh, introspect, and read the
//! answers.

use integration_tests::{PASSWORD, TestServer, USER, http};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use serde_json::{Value, json};

pub(crate) const REDIRECT: &str = "http://127.0.0.1:4711/callback";
pub(crate) const RESOURCE: &str = "http://127.0.0.1:8000/mcp";

pub(crate) async fn register(s: &TestServer, body: Value) -> Value {
    let r = http()
        .post(s.url("/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    r.json().await.unwrap()
}

pub(crate) async fn register_public(s: &TestServer) -> String {
    let c = register(
        s,
        json!({"client_name": "test agent", "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code", "refresh_token"],
               "token_endpoint_auth_method": "none", "application_type": "native"}),
    )
    .await;
    assert!(c.get("client_secret").is_none());
    c["client_id"].as_str().unwrap().to_owned()
}

/// Runs /authorize + headless login; returns the redirect's query pairs.
pub(crate) async fn authorize(
    s: &TestServer,
    client_id: &str,
    challenge: &PkceChallenge,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut q: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
        ("resource", RESOURCE),
    ];
    q.extend_from_slice(extra);
    let r = http()
        .get(s.url("/authorize"))
        .query(&q)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pending: Value = r.json().await.unwrap();
    let r = http()
        .post(pending["login_endpoint"].as_str().unwrap())
        .json(&json!({"username": USER, "password": PASSWORD, "request": pending["request"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    redirect_query(&r)
}

/// A fresh PKCE verifier and the code a headless login returns for it.
pub(crate) async fn login(s: &TestServer, client_id: &str) -> (String, PkceVerifier) {
    let verifier = PkceVerifier::generate().unwrap();
    let q = authorize(s, client_id, &PkceChallenge::s256(&verifier), &[]).await;
    (get(&q, "code").unwrap().to_owned(), verifier)
}

pub(crate) fn redirect_query(r: &reqwest::Response) -> Vec<(String, String)> {
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with(REDIRECT), "{loc}");
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub(crate) fn get<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

pub(crate) async fn token(s: &TestServer, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(s.url("/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn refresh(
    s: &TestServer,
    client_id: &str,
    refresh_token: &str,
) -> reqwest::Response {
    token(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
    )
    .await
}

pub(crate) async fn redeem(
    s: &TestServer,
    client_id: &str,
    code: &str,
    verifier: &PkceVerifier,
) -> reqwest::Response {
    token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier.secret()),
            ("client_id", client_id),
        ],
    )
    .await
}

pub(crate) async fn error_of(r: reqwest::Response, status: u16) -> String {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    body["error"].as_str().unwrap().to_owned()
}

/// A confidential client for introspection.
pub(crate) async fn introspector(s: &TestServer) -> (String, String) {
    let c = register(
        s,
        json!({"client_name": "rs", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    (
        c["client_id"].as_str().unwrap().into(),
        c["client_secret"].as_str().unwrap().into(),
    )
}

pub(crate) async fn introspect(s: &TestServer, who: &(String, String), tok: &str) -> Value {
    let r = http()
        .post(s.url("/introspect"))
        .basic_auth(&who.0, Some(&who.1))
        .form(&[("token", tok)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// `name=value` of a `Set-Cookie` header for `name`.
pub(crate) fn cookie_of(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// The value of a hidden form field.
pub(crate) fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}
