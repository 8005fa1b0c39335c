//! Shared steps of the authorization-server tests: register, authorize
//! with a login on the login page, redeem, refresh, introspect, and read
//! the answers.

use integration_tests::{PASSWORD, RS_ID, RS_SECRET, TestServer, USER, form_login, http};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use serde_json::{Value, json};

pub(crate) use integration_tests::RESOURCE;
pub(crate) const REDIRECT: &str = "http://127.0.0.1:4711/callback";
/// A trusted service client (client id, secret), see [`service_client`].
pub(crate) const SERVICE: (&str, &str) = ("svc", "svc-secret-0123456789");

/// A client the operator created for machine-to-machine calls to
/// [`RESOURCE`] (`client_credentials`).
pub(crate) fn service_client() -> mcp_oauth_server::OperatorClient {
    mcp_oauth_server::OperatorClient::service(SERVICE.0, SERVICE.1)
        .resource(mcp_oauth_core::resource::ResourceUri::parse(RESOURCE).unwrap())
}

/// The `/authorize` URL of a fresh request (S256) by `client_id` to
/// `redirect`, for `resource` when given; and its PKCE verifier.
pub(crate) fn authorize_url(
    s: &TestServer,
    client_id: &str,
    redirect: &str,
    resource: Option<&str>,
) -> (String, PkceVerifier) {
    let verifier = PkceVerifier::generate().unwrap();
    let challenge = PkceChallenge::s256(&verifier);
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(r) = resource {
        q.push(("resource", r));
    }
    let url = url::Url::parse_with_params(&s.url("/authorize"), &q).unwrap();
    (url.into(), verifier)
}

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

/// Runs /authorize + a login on the page; returns the redirect's query
/// pairs.
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
    let url = url::Url::parse_with_params(&s.url("/authorize"), &q).unwrap();
    let r = form_login(url.as_str(), USER, PASSWORD).await;
    assert_eq!(r.status(), 302);
    redirect_query(&r)
}

/// A fresh PKCE verifier and the code a login returns for it.
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
    redeem_at(s, client_id, code, verifier, REDIRECT).await
}

/// Redeems a code that was issued for `redirect_uri`.
pub(crate) async fn redeem_at(
    s: &TestServer,
    client_id: &str,
    code: &str,
    verifier: &PkceVerifier,
    redirect_uri: &str,
) -> reqwest::Response {
    token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier.secret()),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
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

/// The resource server every test server trusts (it serves [`RESOURCE`]).
pub(crate) async fn introspector(_: &TestServer) -> (String, String) {
    (RS_ID.to_owned(), RS_SECRET.to_owned())
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
    integration_tests::set_cookie(r, name)
}

/// The value of a hidden form field.
pub(crate) fn field(html: &str, name: &str) -> String {
    integration_tests::form_field(html, name).unwrap()
}
