//! OpenID Connect: the `openidconnect` crate (a well-kept relying party)
//! discovers the server, logs a person in with a nonce and PKCE, verifies
//! the ID token (signature through the JWKS, nonce, `at_hash`), refreshes
//! and calls UserInfo; and the refusals: UserInfo without `openid`, without
//! a token, with a revoked one; OpenID Connect turned off; a nonce too
//! long.

use base64ct::{Base64UrlUnpadded, Encoding};
use integration_tests::{AGENT_ID, PASSWORD, TestServer, USER, form_field, http, set_cookie};
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use crate::flow::{REDIRECT, RESOURCE, authorize, get, redeem, redirect_query, register_public};

/// The relying party's HTTP client: the tests' reqwest behind
/// `openidconnect`'s async client interface (its own reqwest is of another
/// major version).
async fn send(
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http()
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut out = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(out.body(body).expect("a response"))
}

/// The JSON claims of a JWT, read without checking it (the relying party
/// checks it; this only looks).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap()
}

#[tokio::test]
async fn openidconnect_relying_party_logs_in_verifies_refreshes_and_reads_userinfo() {
    relying_party(TestServer::start(|c| c).await, "ES256").await;
}

/// With Ed25519 keys: the relying party verifies the EdDSA signature and
/// the `at_hash` it computes with SHA-512.
#[tokio::test]
async fn openidconnect_relying_party_verifies_eddsa_id_tokens() {
    let s = TestServer::start(|mut c| {
        c.keys.algorithm = mcp_oauth_server::keys::SigningAlgorithm::EdDsa;
        c
    })
    .await;
    relying_party(s, "EdDSA").await;
}

/// The whole relying-party flow against `s`, whose ID tokens are signed
/// with `alg`.
async fn relying_party(s: TestServer, alg: &str) {
    let client_id = register_public(&s).await;

    // Discovery: the relying party accepts the document as an OpenID
    // Provider's (it refuses one without the required fields).
    let issuer = IssuerUrl::new(s.base.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &send)
        .await
        .expect("discovery");
    let algs = metadata.id_token_signing_alg_values_supported().clone();
    assert_eq!(
        serde_json::to_value(&algs).unwrap(),
        serde_json::json!([alg])
    );
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(client_id.clone()), None)
            .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());

    // The authorization request: openid, profile, email, a nonce, PKCE
    // and the MCP resource.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_extra_param("resource", RESOURCE)
        .set_pkce_challenge(challenge)
        .url();
    let r = integration_tests::form_login(url.as_str(), USER, PASSWORD).await;
    assert_eq!(r.status(), 302);
    let q = redirect_query(&r);
    assert_eq!(get(&q, "state"), Some(csrf.secret().as_str()));
    let code = get(&q, "code").unwrap().to_owned();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", RESOURCE)
        .request_async(&send)
        .await
        .expect("token response");
    let id_token = tokens
        .id_token()
        .expect("an ID token beside the access token");
    let id_verifier = client.id_token_verifier().set_allowed_algs(algs.clone());
    // Signature through the JWKS, iss, aud, exp and the nonce.
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("a valid ID token");
    assert_eq!(claims.subject().as_str(), USER);
    assert_eq!(claims.nonce().map(|n| n.secret()), Some(nonce.secret()));
    assert_eq!(
        claims.authorized_party().map(|a| a.as_str()),
        Some(client_id.as_str())
    );
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some(USER));
    // A local user has no e-mail address here: none is made up.
    assert!(claims.email().is_none());
    // at_hash binds the access token, as the relying party computes it.
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
    // Another nonce (a replayed ID token) is refused.
    assert!(
        id_token
            .claims(&id_verifier, &Nonce::new("another".into()))
            .is_err()
    );
    let compact = id_token.to_string();
    let header = compact.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(header).unwrap()).unwrap();
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], alg);

    // UserInfo through the relying party, for the same subject.
    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&send)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), USER);
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some(USER));

    // A refresh brings a fresh ID token for the same person and client,
    // with the original auth_time and no nonce (OIDC Core §12.2).
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&send)
        .await
        .expect("refresh");
    let again = refreshed.id_token().expect("an ID token on refresh");
    let no_nonce = |n: Option<&Nonce>| {
        if n.is_none() {
            Ok(())
        } else {
            Err("a nonce on refresh".to_owned())
        }
    };
    let claims2 = again.claims(&id_verifier, no_nonce).expect("valid");
    assert_eq!(claims2.subject(), claims.subject());
    assert_eq!(claims2.auth_time(), claims.auth_time());
    let expected = AccessTokenHash::from_token(
        refreshed.access_token(),
        again.signing_alg().unwrap(),
        again.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims2.access_token_hash(), Some(&expected));
    s.stop().await;
}

#[tokio::test]
async fn discovery_documents_carry_the_openid_provider_fields() {
    let s = TestServer::start(|c| c).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = http()
            .get(s.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], s.base);
        assert_eq!(doc["userinfo_endpoint"], s.url("/userinfo"));
        assert_eq!(
            doc["subject_types_supported"],
            serde_json::json!(["public"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["ES256"])
        );
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        let listed =
            |field: &str, value: &str| doc[field].as_array().unwrap().iter().any(|v| v == value);
        for scope in ["mcp", "openid", "profile", "email"] {
            assert!(listed("scopes_supported", scope), "{scope}");
        }
        for claim in ["sub", "nonce", "at_hash", "preferred_username", "email"] {
            assert!(listed("claims_supported", claim), "{claim}");
        }
    }
    s.stop().await;
}

/// A fresh PKCE verifier and the code of a login for `client_id` asking
/// `scope` (and, when given, `nonce`).
async fn code_for(
    s: &TestServer,
    client_id: &str,
    scope: &str,
    nonce: Option<&str>,
) -> (String, PkceVerifier) {
    let verifier = PkceVerifier::generate().unwrap();
    let mut extra = vec![("scope", scope)];
    if let Some(n) = nonce {
        extra.push(("nonce", n));
    }
    let q = authorize(s, client_id, &PkceChallenge::s256(&verifier), &extra).await;
    (get(&q, "code").unwrap().to_owned(), verifier)
}

async fn token_json(s: &TestServer, client_id: &str, scope: &str) -> Value {
    let (code, verifier) = code_for(s, client_id, scope, None).await;
    let r = redeem(s, client_id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn userinfo(s: &TestServer, token: Option<&str>) -> reqwest::Response {
    let mut r = http().get(s.url("/userinfo"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

fn challenge_of(r: &reqwest::Response) -> String {
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.headers()["www-authenticate"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn userinfo_refuses_per_rfc_6750() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;

    // Without openid: no ID token, and 403 insufficient_scope naming it.
    let plain = token_json(&s, &client_id, "mcp").await;
    assert!(plain.get("id_token").is_none(), "{plain}");
    let r = userinfo(&s, plain["access_token"].as_str()).await;
    assert_eq!(r.status(), 403);
    let c = challenge_of(&r);
    assert!(c.starts_with("Bearer "), "{c}");
    assert!(c.contains("error=\"insufficient_scope\""), "{c}");
    assert!(c.contains("scope=\"openid\""), "{c}");

    // No token: 401 with a bare challenge (RFC 6750 §3.1: no error code).
    let r = userinfo(&s, None).await;
    assert_eq!(r.status(), 401);
    let c = challenge_of(&r);
    assert!(c.starts_with("Bearer ") && !c.contains("error="), "{c}");
    // Not a token of ours: invalid_token.
    let r = userinfo(&s, Some("not-a-token")).await;
    assert_eq!(r.status(), 401);
    assert!(challenge_of(&r).contains("error=\"invalid_token\""));

    // With openid: the subject, and nothing ungranted (no profile asked).
    let oidc = token_json(&s, &client_id, "mcp openid").await;
    let access = oidc["access_token"].as_str().unwrap();
    let id_claims = payload(oidc["id_token"].as_str().unwrap());
    assert!(id_claims.get("preferred_username").is_none(), "{id_claims}");
    assert!(id_claims.get("nonce").is_none(), "{id_claims}");
    // The ID token is no access token.
    let r = userinfo(&s, oidc["id_token"].as_str()).await;
    assert_eq!(r.status(), 401);
    assert!(challenge_of(&r).contains("error=\"invalid_token\""));
    let r = userinfo(&s, Some(access)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "sub": USER }));
    // POST works alike.
    let r = http()
        .post(s.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Revoked, the same token is refused as invalid.
    let r = http()
        .post(s.url("/revoke"))
        .form(&[("token", access), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = userinfo(&s, Some(access)).await;
    assert_eq!(r.status(), 401);
    assert!(challenge_of(&r).contains("error=\"invalid_token\""));
    s.stop().await;
}

/// The `/authorize` URL of the headless agent (a trusted client: errors
/// are redirected to it at once) asking `extra`.
fn agent_authorize(s: &TestServer, extra: &[(&str, &str)]) -> String {
    let verifier = PkceVerifier::generate().unwrap();
    let challenge = PkceChallenge::s256(&verifier);
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", AGENT_ID),
        ("redirect_uri", "http://127.0.0.1/callback"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    url::Url::parse_with_params(&s.url("/authorize"), &q)
        .unwrap()
        .into()
}

/// The `error` an `/authorize` redirect carries, if it is one.
async fn authorize_error(url: &str) -> Option<String> {
    let r = http().get(url).send().await.unwrap();
    let location = r.headers().get("location")?.to_str().unwrap().to_owned();
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn with_oidc_off_openid_is_an_invalid_scope_and_nothing_is_advertised() {
    let s = TestServer::start(|c| c.oidc(false)).await;
    let url = agent_authorize(&s, &[("scope", "mcp openid")]);
    assert_eq!(
        authorize_error(&url).await.as_deref(),
        Some("invalid_scope")
    );
    let url = agent_authorize(&s, &[("scope", "mcp")]);
    assert_eq!(authorize_error(&url).await, None, "mcp alone is fine");
    let doc: Value = http()
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for field in [
        "userinfo_endpoint",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "claims_supported",
    ] {
        assert!(doc.get(field).is_none(), "{field}: {doc}");
    }
    assert_eq!(doc["scopes_supported"], serde_json::json!(["mcp"]));
    assert_eq!(userinfo(&s, Some("x")).await.status(), 404);
    s.stop().await;
}

#[tokio::test]
async fn a_nonce_too_long_or_empty_is_refused() {
    let s = TestServer::start(|c| c).await;
    let longest = "n".repeat(mcp_oauth_core::authorization::MAX_NONCE_LEN);
    let too_long = format!("{longest}n");
    for bad in [too_long.as_str(), ""] {
        let url = agent_authorize(&s, &[("scope", "openid"), ("nonce", bad)]);
        assert_eq!(
            authorize_error(&url).await.as_deref(),
            Some("invalid_request"),
            "nonce of {} characters",
            bad.len()
        );
    }
    // The longest allowed is accepted (the login page is shown).
    let url = agent_authorize(&s, &[("scope", "openid"), ("nonce", &longest)]);
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn a_posted_authorization_request_carries_its_nonce_into_the_id_token() {
    let s = TestServer::start(|c| c).await;
    let client_id = register_public(&s).await;
    let verifier = PkceVerifier::generate().unwrap();
    let challenge = PkceChallenge::s256(&verifier);
    let form = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", "openid profile"),
        ("nonce", "posted-nonce-7Hq"),
    ];
    // POST /authorize shows the login page; the person signs in on it.
    let page = http()
        .post(s.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = set_cookie(&page, "mcp_oauth_csrf").unwrap();
    let html = page.text().await.unwrap();
    let r = http()
        .post(s.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("username", USER),
            ("password", PASSWORD),
            ("request", &form_field(&html, "request").unwrap()),
            ("csrf", &form_field(&html, "csrf").unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let code = get(&redirect_query(&r), "code").unwrap().to_owned();
    let r = redeem(&s, &client_id, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let claims = payload(body["id_token"].as_str().unwrap());
    assert_eq!(claims["nonce"], "posted-nonce-7Hq");
    assert_eq!(claims["aud"], client_id);
    assert_eq!(claims["azp"], client_id);
    assert_eq!(claims["iss"], s.base);
    assert_eq!(claims["preferred_username"], USER);
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
    s.stop().await;
}
