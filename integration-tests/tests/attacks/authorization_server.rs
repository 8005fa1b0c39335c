//! Attacks on the authorization server (RFC 9700, OAuth 2.1 §7, RFC 8252,
//! the MCP security considerations), one test each, over real sockets.
//! Every test asserts the precise refusal: status, OAuth error code, and
//! that nothing is issued or redirected.

use std::time::{Duration, Instant};

use integration_tests::{PASSWORD, TestServer, USER, http};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_server::ratelimit::ThrottleLimits;
use serde_json::{Value, json};

use crate::flow::{
    REDIRECT, RESOURCE, authorize, cookie_of, error_of, field, get, introspect, introspector,
    login, redeem, redirect_query, refresh, register, register_public, token,
};

/// The tokens of one completed code flow.
async fn tokens(s: &TestServer, client_id: &str) -> Value {
    let (code, verifier) = login(s, client_id).await;
    let r = redeem(s, client_id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// `/authorize` with S256 and `extra` parameters, as a browser would send it.
async fn authorize_raw(s: &TestServer, extra: &[(&str, &str)]) -> reqwest::Response {
    http()
        .get(s.url("/authorize"))
        .query(extra)
        .send()
        .await
        .unwrap()
}

/// Asserts an error response for a client the operator does not vouch
/// for: no automatic redirect (RFC 9700 §4.11.2), but a page whose link
/// back to the client carries the error code, state and iss.
async fn assert_error_redirect(
    s: &TestServer,
    r: reqwest::Response,
    error: &str,
) -> Vec<(String, String)> {
    assert_eq!(r.status(), 400);
    assert!(
        r.headers().get("location").is_none(),
        "no automatic redirect"
    );
    let html = r.text().await.unwrap();
    let start = html.find("<a href=\"").unwrap() + 9;
    let link = html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&");
    assert!(link.starts_with(REDIRECT), "{link}");
    let q: Vec<(String, String)> = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(get(&q, "error"), Some(error));
    assert_eq!(
        get(&q, "iss"),
        Some(s.base.as_str()),
        "iss on every response"
    );
    assert!(get(&q, "code").is_none());
    q
}

/// Asserts an error page that does not redirect anywhere (RFC 6749
/// §4.1.2.1: a bad client or redirect URI must not become an open
/// redirector).
fn assert_no_redirect(r: &reqwest::Response, what: &str) {
    assert_eq!(r.status(), 400, "{what}");
    assert!(r.headers().get("location").is_none(), "{what}");
}

// ---------------------------------------------------------------- codes --

#[tokio::test]
async fn code_replay_is_refused_and_revokes_what_the_first_use_issued() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    let first: Value = redeem(&s, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let rs = introspector(&s).await;
    let access = first["access_token"].as_str().unwrap();
    let refresh_token = first["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&s, &rs, access).await["active"], true);

    let replay = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(error_of(replay, 400).await, "invalid_grant");
    assert_eq!(introspect(&s, &rs, access).await["active"], false);
    assert_eq!(introspect(&s, &rs, refresh_token).await["active"], false);
    let r = refresh(&s, &client_id, refresh_token).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn code_redeemed_by_another_client_is_refused() {
    let s = TestServer::start(|c| c).await;
    let victim = register_public(&s).await;
    let attacker = register_public(&s).await;
    let (code, verifier) = login(&s, &victim).await;
    let r = redeem(&s, &attacker, &code, &verifier).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn code_with_another_redirect_uri_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier.secret()),
            ("client_id", &client_id),
            ("redirect_uri", "http://127.0.0.1:4711/elsewhere"),
        ],
    )
    .await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn expired_code_is_refused() {
    let s = TestServer::start(|c| c.code_ttl(Duration::from_secs(1))).await;
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
}

// ----------------------------------------------------------------- PKCE --

#[tokio::test]
async fn authorization_without_a_pkce_challenge_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let r = authorize_raw(
        &s,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
        ],
    )
    .await;
    let q = assert_error_redirect(&s, r, "invalid_request").await;
    assert_eq!(get(&q, "state"), Some("s"));
    s.stop().await;
}

#[tokio::test]
async fn pkce_plain_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let verifier = PkceVerifier::generate().unwrap();
    let r = authorize_raw(
        &s,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", verifier.secret()),
            ("code_challenge_method", "plain"),
            ("state", "s"),
        ],
    )
    .await;
    assert_error_redirect(&s, r, "invalid_request").await;
    s.stop().await;
}

#[tokio::test]
async fn wrong_pkce_verifier_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (code, _) = login(&s, &client_id).await;
    let r = redeem(&s, &client_id, &code, &PkceVerifier::generate().unwrap()).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn pkce_verifier_of_wrong_length_or_charset_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (code, _) = login(&s, &client_id).await;
    for bad in [
        "a".repeat(42),
        "a".repeat(129),
        format!("{}!", "a".repeat(50)),
        format!("{} ", "a".repeat(50)),
        format!("{}é", "a".repeat(50)),
    ] {
        let r = token(
            &s,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &bad),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_eq!(error_of(r, 400).await, "invalid_request", "{bad:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn pkce_downgrade_by_omitting_the_verifier_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(error_of(r, 400).await, "invalid_request");
    // The attempt did not burn the code: the legitimate client redeems it.
    assert_eq!(redeem(&s, &client_id, &code, &verifier).await.status(), 200);
    s.stop().await;
}

// -------------------------------------------------------- redirect URIs --

#[tokio::test]
async fn unregistered_redirect_uri_is_refused_without_redirecting() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    let r = authorize_raw(
        &s,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "https://evil.example/callback"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_no_redirect(&r, "unregistered");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    s.stop().await;
}

#[tokio::test]
async fn redirect_uri_lookalikes_are_refused() {
    let s = TestServer::start(|c| c).await;
    let c = register(
        &s,
        json!({"redirect_uris": ["https://app.example.com/cb", REDIRECT],
               "token_endpoint_auth_method": "none"}),
    )
    .await;
    let client_id = c["client_id"].as_str().unwrap();
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    for trick in [
        "https://app.example.com/cb/",
        "https://app.example.com/cbx",
        "https://app.example.com/c",
        "https://app.example.com/cb/../evil",
        "https://app.example.com/cb/%2e%2e/evil",
        "https://app.example.com.evil.example/cb",
        "https://evil.example/https://app.example.com/cb",
        "https://app.example.com@evil.example/cb",
        "https://user@app.example.com/cb",
        "https://app.example.com/cb#fragment",
        "https://app.example.com/cb?extra=1",
        "http://app.example.com/cb",
        "HTTPS://APP.EXAMPLE.COM/CB",
        "http://127.0.0.1:4711/callback/../other",
        "http://localhost.evil.example:4711/callback",
    ] {
        let r = authorize_raw(
            &s,
            &[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", trick),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
        assert_no_redirect(&r, trick);
    }
    // Control: the registered URI, and a loopback URI on another port
    // (RFC 8252 §7.3), are accepted.
    for ok in [
        "https://app.example.com/cb",
        "http://127.0.0.1:5999/callback",
    ] {
        let r = authorize_raw(
            &s,
            &[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", ok),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
        assert_eq!(r.status(), 200, "{ok}");
    }
    s.stop().await;
}

#[tokio::test]
async fn errors_for_an_unknown_client_never_redirect() {
    let s = TestServer::start(|c| c).await;
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    for client_id in ["no-such-client", "", "https://evil.example/client.json"] {
        let r = authorize_raw(
            &s,
            &[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", "https://evil.example/callback"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "s"),
            ],
        )
        .await;
        assert_no_redirect(&r, client_id);
    }
    s.stop().await;
}

#[tokio::test]
async fn http_redirect_uris_off_loopback_are_refused_at_registration() {
    let s = TestServer::start(|c| c).await;
    for uri in [
        "http://evil.example/cb",
        "http://app.example.com:8080/cb",
        "http://10.0.0.1/cb",
    ] {
        let r = http()
            .post(s.url("/register"))
            .json(&json!({"redirect_uris": [uri]}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r, 400).await, "invalid_redirect_uri", "{uri}");
    }
    s.stop().await;
}

// ------------------------------------------------------------ resources --

#[tokio::test]
async fn resource_differing_between_authorize_and_token_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await; // bound to RESOURCE
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier.secret()),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("resource", "https://other.example/mcp"),
        ],
    )
    .await;
    assert_eq!(error_of(r, 400).await, "invalid_target");
    s.stop().await;
}

#[tokio::test]
async fn resource_not_served_by_this_server_is_refused() {
    let s = TestServer::start(|c| c.allowed_resources(vec![ResourceUri::parse(RESOURCE).unwrap()]))
        .await;
    let client_id = register_public(&s).await;
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    let r = authorize_raw(
        &s,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", "https://other.example/mcp"),
            ("state", "s"),
        ],
    )
    .await;
    assert_error_redirect(&s, r, "invalid_target").await;
    s.stop().await;
}

#[tokio::test]
async fn iss_is_in_every_authorization_response() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    // Success.
    let verifier = PkceVerifier::generate().unwrap();
    let q = authorize(&s, &client_id, &PkceChallenge::s256(&verifier), &[]).await;
    assert!(get(&q, "code").is_some());
    assert_eq!(get(&q, "iss"), Some(s.base.as_str()));
    // Errors: unsupported response type, bad scope.
    let challenge = PkceChallenge::s256(&verifier);
    for (param, value, error) in [
        ("response_type", "token", "unsupported_response_type"),
        ("scope", "no-such-scope", "invalid_scope"),
    ] {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        q.retain(|(k, _)| *k != param);
        q.push((param, value));
        let r = authorize_raw(&s, &q).await;
        assert_error_redirect(&s, r, error).await;
    }
    s.stop().await;
}

// -------------------------------------------------------- refresh tokens --

#[tokio::test]
async fn refresh_token_reuse_after_rotation_revokes_the_family() {
    let s = TestServer::start(|c| c.refresh_grace(Duration::ZERO)).await;
    let client_id = register_public(&s).await;
    let t = tokens(&s, &client_id).await;
    let first = t["refresh_token"].as_str().unwrap();
    let t2: Value = refresh(&s, &client_id, first).await.json().await.unwrap();
    let second = t2["refresh_token"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = refresh(&s, &client_id, first).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    let r = refresh(&s, &client_id, second).await;
    assert_eq!(
        error_of(r, 400).await,
        "invalid_grant",
        "the newest token of the family is revoked too"
    );
    s.stop().await;
}

#[tokio::test]
async fn refresh_by_another_client_is_refused() {
    let s = TestServer::start(|c| c).await;
    let victim = register_public(&s).await;
    let attacker = register_public(&s).await;
    let t = tokens(&s, &victim).await;
    let stolen = t["refresh_token"].as_str().unwrap();
    let r = refresh(&s, &attacker, stolen).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
}

#[tokio::test]
async fn refresh_with_a_wider_scope_is_refused() {
    let s = TestServer::start(|c| c.scopes(["mcp", "admin"])).await;
    let client_id = register_public(&s).await;
    let verifier = PkceVerifier::generate().unwrap();
    let q = authorize(
        &s,
        &client_id,
        &PkceChallenge::s256(&verifier),
        &[("scope", "mcp")],
    )
    .await;
    let t: Value = redeem(&s, &client_id, get(&q, "code").unwrap(), &verifier)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["scope"], "mcp");
    let r = token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
            ("scope", "mcp admin"),
        ],
    )
    .await;
    assert_eq!(error_of(r, 400).await, "invalid_scope");
    s.stop().await;
}

#[tokio::test]
async fn refresh_after_revocation_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let t = tokens(&s, &client_id).await;
    let refresh_token = t["refresh_token"].as_str().unwrap();
    let r = http()
        .post(s.url("/revoke"))
        .form(&[("token", refresh_token), ("client_id", &client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = refresh(&s, &client_id, refresh_token).await;
    assert_eq!(error_of(r, 400).await, "invalid_grant");
    s.stop().await;
}

// ------------------------------------------------- client authentication --

/// A confidential client allowed the code flow.
async fn confidential(s: &TestServer) -> (String, String) {
    let c = register(
        s,
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic",
               "grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await;
    (
        c["client_id"].as_str().unwrap().into(),
        c["client_secret"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn wrong_client_secret_is_refused() {
    let s = TestServer::start(|c| c).await;
    let (id, secret) = confidential(&s).await;
    // Wrong in the first character, in the last, truncated, extended.
    let mut first = secret.clone().into_bytes();
    first[0] = if first[0] == b'a' { b'b' } else { b'a' };
    let mut last = secret.clone().into_bytes();
    let n = last.len() - 1;
    last[n] = if last[n] == b'a' { b'b' } else { b'a' };
    for wrong in [
        String::from_utf8(first).unwrap(),
        String::from_utf8(last).unwrap(),
        secret[..secret.len() - 1].to_owned(),
        format!("{secret}x"),
        String::new(),
    ] {
        let r = http()
            .post(s.url("/token"))
            .basic_auth(&id, Some(&wrong))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert!(r.headers().contains_key("www-authenticate"));
        assert_eq!(error_of(r, 401).await, "invalid_client");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_secret_presented_for_a_public_client_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (code, verifier) = login(&s, &client_id).await;
    let r = http()
        .post(s.url("/token"))
        .basic_auth(&client_id, Some("made-up-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 401).await, "invalid_client");
    s.stop().await;
}

#[tokio::test]
async fn no_authentication_for_a_confidential_client_is_refused() {
    let s = TestServer::start(|c| c).await;
    let (id, _) = confidential(&s).await;
    let r = token(
        &s,
        &[("grant_type", "client_credentials"), ("client_id", &id)],
    )
    .await;
    assert_eq!(error_of(r, 401).await, "invalid_client");
    s.stop().await;
}

// ----------------------------------------------------------------- login --

/// Opens the login page; returns (csrf cookie, request field, csrf field).
async fn login_page(s: &TestServer, client_id: &str) -> (String, String, String) {
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    let r = authorize_raw(
        s,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "x"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let cookie = cookie_of(&r, "mcp_oauth_csrf").unwrap();
    let html = r.text().await.unwrap();
    (cookie, field(&html, "request"), field(&html, "csrf"))
}

async fn post_login(
    s: &TestServer,
    cookie: Option<&str>,
    request: &str,
    csrf: &str,
) -> reqwest::Response {
    let mut b = http().post(s.url("/login")).form(&[
        ("username", USER),
        ("password", PASSWORD),
        ("request", request),
        ("csrf", csrf),
    ]);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    b.send().await.unwrap()
}

#[tokio::test]
async fn login_without_the_csrf_cookie_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (_, request, csrf) = login_page(&s, &client_id).await;
    let r = post_login(&s, None, &request, &csrf).await;
    assert_no_redirect(&r, "no csrf cookie");
    s.stop().await;
}

#[tokio::test]
async fn login_with_a_wrong_csrf_token_is_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let (cookie, request, _) = login_page(&s, &client_id).await;
    // The attacker's page posts its own token with the victim's cookie.
    let (_, _, attacker_csrf) = login_page(&s, &client_id).await;
    let r = post_login(&s, Some(&cookie), &request, &attacker_csrf).await;
    assert_no_redirect(&r, "csrf from another page");
    let r = post_login(&s, Some(&cookie), &request, "").await;
    assert_no_redirect(&r, "empty csrf");
    // Control: the right pair signs in.
    let (cookie, request, csrf) = login_page(&s, &client_id).await;
    let r = post_login(&s, Some(&cookie), &request, &csrf).await;
    assert_eq!(r.status(), 302);
    assert!(get(&redirect_query(&r), "code").is_some());
    s.stop().await;
}

#[tokio::test]
async fn login_pages_cannot_be_framed() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let challenge = PkceChallenge::s256(&PkceVerifier::generate().unwrap());
    let r = authorize_raw(
        &s,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    s.stop().await;
}

/// A login page to post attempts to: (CSRF cookie, request, CSRF field).
async fn pending_request(s: &TestServer) -> (String, String, String) {
    let client_id = register_public(s).await;
    login_page(s, &client_id).await
}

async fn attempt(
    s: &TestServer,
    page: &(String, String, String),
    user: &str,
    password: &str,
) -> reqwest::Response {
    let (cookie, request, csrf) = page;
    http()
        .post(s.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("username", user),
            ("password", password),
            ("request", request),
            ("csrf", csrf),
        ])
        .send()
        .await
        .unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn password_guessing_is_throttled_per_account() {
    let s = TestServer::start(|mut c| {
        c.login_limits = ThrottleLimits {
            per_account: 3,
            per_address: 100,
            window: Duration::from_secs(600),
        };
        c
    })
    .await;
    let request = pending_request(&s).await;
    for _ in 0..3 {
        assert_eq!(attempt(&s, &request, USER, "wrong").await.status(), 401);
    }
    // Locked: even the right password is refused, with Retry-After.
    let r = attempt(&s, &request, USER, PASSWORD).await;
    assert_eq!(r.status(), 429);
    let retry = retry_after(&r);
    assert!(retry > 0 && retry <= 600, "{retry}");
    s.stop().await;
}

#[tokio::test]
async fn password_spraying_is_throttled_per_address() {
    let s = TestServer::start(|mut c| {
        c.login_limits = ThrottleLimits {
            per_account: 100,
            per_address: 4,
            window: Duration::from_secs(600),
        };
        c
    })
    .await;
    let request = pending_request(&s).await;
    // Many accounts, one guess each, from one address.
    for i in 0..4 {
        let r = attempt(&s, &request, &format!("user{i}"), "guess").await;
        assert_eq!(r.status(), 401);
    }
    let r = attempt(&s, &request, USER, PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) > 0);
    s.stop().await;
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_look_the_same() {
    let s = TestServer::start(|mut c| {
        c.login_limits = ThrottleLimits {
            per_account: 1000,
            per_address: 1000,
            window: Duration::from_secs(600),
        };
        c
    })
    .await;
    let request = pending_request(&s).await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let r = attempt(&s, &request, &format!("nobody{i}"), "x").await;
        unknown.push(t.elapsed());
        assert_eq!(r.status(), 401);
        bodies.push(r.text().await.unwrap());
        let t = Instant::now();
        let r = attempt(&s, &request, USER, "x").await;
        wrong.push(t.elapsed());
        assert_eq!(r.status(), 401);
        bodies.push(r.text().await.unwrap());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "same body: {bodies:?}"
    );
    // An unknown user costs a password hash too (no fast path that tells
    // them apart). The bound is loose on purpose: it separates "hashed"
    // (milliseconds) from "skipped" (microseconds), not timings in general.
    unknown.sort();
    wrong.sort();
    let (u, w) = (unknown[2], wrong[2]);
    assert!(u * 5 >= w, "unknown user {u:?} vs wrong password {w:?}");
    s.stop().await;
}

// ------------------------------------------------- hostile HTTP requests --

#[tokio::test]
async fn oversized_bodies_are_refused_on_every_endpoint() {
    let s = TestServer::start(|c| c).await;
    let big = "x".repeat(100 * 1024);
    for path in ["/register", "/token", "/introspect", "/revoke", "/login"] {
        let r = http()
            .post(s.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("a={big}"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r, 413).await, "invalid_request", "{path}");
    }
    s.stop().await;
}

#[tokio::test]
async fn oversized_headers_are_refused_on_every_endpoint() {
    let s = TestServer::start(|c| c).await;
    let big = "y".repeat(64 * 1024);
    for (method, path) in [
        ("GET", "/.well-known/oauth-authorization-server"),
        ("GET", "/authorize"),
        ("POST", "/token"),
        ("POST", "/register"),
        ("POST", "/introspect"),
        ("GET", "/jwks"),
    ] {
        let r = http()
            .request(method.parse().unwrap(), s.url(path))
            .header("x-padding", &big)
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r, 431).await, "invalid_request", "{method} {path}");
    }
    // The server is still healthy afterwards.
    let r = http().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn malformed_bodies_get_an_oauth_error() {
    let s = TestServer::start(|c| c).await;
    let cases: [(&str, &str, &[u8], u16, &str); 7] = [
        (
            "/register",
            "application/json",
            b"{\"redirect_uris\": [",
            400,
            "invalid_client_metadata",
        ),
        (
            "/register",
            "application/json",
            b"\xff\xfe\x00",
            400,
            "invalid_client_metadata",
        ),
        (
            "/register",
            "application/json",
            b"[]",
            400,
            "invalid_client_metadata",
        ),
        (
            "/token",
            "application/x-www-form-urlencoded",
            b"grant_type=authorization_code&grant_type=refresh_token",
            400,
            "invalid_request",
        ),
        (
            "/token",
            "application/x-www-form-urlencoded",
            b"%%%%=%",
            400,
            "invalid_request",
        ),
        (
            "/token",
            "application/x-www-form-urlencoded",
            b"",
            400,
            "invalid_request",
        ),
        (
            "/token",
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials&client_id=a&client_id=b",
            400,
            "invalid_request",
        ),
    ];
    for (path, content_type, body, status, error) in cases {
        let r = http()
            .post(s.url(path))
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let shown = String::from_utf8_lossy(body).into_owned();
        assert_eq!(r.status(), status, "{path} {shown}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], error, "{path} {shown}");
    }
    s.stop().await;
}

#[tokio::test]
async fn wrong_content_types_get_an_oauth_error() {
    let s = TestServer::start(|c| c).await;
    // A JSON token request: the form decoder finds no grant_type.
    let r = http()
        .post(s.url("/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "invalid_request");
    // A form-encoded registration.
    let r = http()
        .post(s.url("/register"))
        .form(&[("redirect_uris", REDIRECT)])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "invalid_client_metadata");
    s.stop().await;
}

#[tokio::test]
async fn unknown_grant_types_are_refused() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    for grant in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "nonsense",
    ] {
        let r = token(&s, &[("grant_type", grant), ("client_id", &client_id)]).await;
        assert_eq!(error_of(r, 400).await, "unsupported_grant_type", "{grant}");
    }
    // The device code grant is served (RFC 8628): without its parameter
    // the request is malformed.
    let device = "urn:ietf:params:oauth:grant-type:device_code";
    let r = token(&s, &[("grant_type", device), ("client_id", &client_id)]).await;
    assert_eq!(error_of(r, 400).await, "invalid_request");
    s.stop().await;
    // Where the operator turned it off, it is unknown.
    let s = TestServer::start(|c| c.device_flow(false)).await;
    let client_id = register_public(&s).await;
    let r = token(
        &s,
        &[
            ("grant_type", device),
            ("device_code", "anything"),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(error_of(r, 400).await, "unsupported_grant_type");
    s.stop().await;
}

// --------------------------------------------------- registration abuse --

#[tokio::test]
async fn oversized_registration_metadata_is_refused() {
    let s = TestServer::start(|c| c).await;
    let r = http()
        .post(s.url("/register"))
        .json(&json!({"redirect_uris": [REDIRECT], "client_name": "x".repeat(201)}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "invalid_client_metadata");
    let r = http()
        .post(s.url("/register"))
        .json(&json!({"redirect_uris": [REDIRECT], "client_name": "x".repeat(100 * 1024)}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 413).await, "invalid_request");
    s.stop().await;
}

#[tokio::test]
async fn too_many_redirect_uris_are_refused() {
    let s = TestServer::start(|c| c).await;
    let many: Vec<String> = (0..21).map(|i| format!("http://127.0.0.1/cb{i}")).collect();
    let r = http()
        .post(s.url("/register"))
        .json(&json!({"redirect_uris": many}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "invalid_client_metadata");
    s.stop().await;
}

#[tokio::test]
async fn script_and_data_redirect_schemes_are_refused() {
    let s = TestServer::start(|c| c).await;
    for uri in [
        "javascript:alert(1)",
        "data:text/html,hi",
        "vbscript:msgbox",
        "file:///etc/passwd",
    ] {
        let r = http()
            .post(s.url("/register"))
            .json(&json!({"redirect_uris": [uri]}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r, 400).await, "invalid_redirect_uri", "{uri}");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_registration_flood_is_cut_off() {
    let s = TestServer::start(|mut c| {
        c.registrations_per_hour = 3;
        c
    })
    .await;
    for _ in 0..3 {
        register_public(&s).await;
    }
    let r = http()
        .post(s.url("/register"))
        .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    // The answer says how not to run into it: keep one registration.
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("keep its registration"),
        "{body}"
    );
    // The moment the limit engaged is audited once, not per refusal.
    for _ in 0..3 {
        let _ = http()
            .post(s.url("/register"))
            .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .unwrap();
    }
    let mut q = mcp_oauth_server::storage::AuditQuery::default();
    q.kind = Some("registration_throttled".into());
    assert_eq!(s.storage.audit_events(&q).await.unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn the_number_of_clients_is_capped() {
    let s = TestServer::start(|mut c| {
        c.max_clients = 2;
        c
    })
    .await;
    register_public(&s).await;
    register_public(&s).await;
    let r = http()
        .post(s.url("/register"))
        .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "temporarily_unavailable");
    s.stop().await;
}

/// Review 3, N2: registrations were never expired, so strangers could fill
/// the client table once and every later registration failed for good. At
/// the cap, the oldest registration no person has consented to (and that
/// is past its grace) now makes room; one a person used is never touched.
#[tokio::test]
async fn registrations_nobody_used_make_room_at_the_cap() {
    let s = TestServer::start(|mut c| {
        c.max_clients = 2;
        c.unused_client_ttl = Duration::from_secs(1);
        c
    })
    .await;
    let used = register_public(&s).await;
    login(&s, &used).await;
    let idle = register_public(&s).await;
    // Issue times are whole seconds: past the 1 s grace whatever the
    // rounding.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let newcomer = register_public(&s).await;
    let page = |id: String| {
        let s = &s;
        async move {
            http()
                .get(s.url("/authorize"))
                .query(&[
                    ("response_type", "code"),
                    ("client_id", id.as_str()),
                    ("redirect_uri", REDIRECT),
                    ("code_challenge", &"x".repeat(43)),
                    ("code_challenge_method", "S256"),
                    ("state", "s"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(page(idle).await, 400, "the idle registration made room");
    assert_eq!(page(used.clone()).await, 200);
    assert_eq!(page(newcomer).await, 200);
    s.stop().await;
}
