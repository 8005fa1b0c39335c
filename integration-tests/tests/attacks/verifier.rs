//! Attacks on a protected MCP server (the verifier in front of rmcp), one
//! test each. Tokens are forged with a key the test controls and serves as
//! the authorization server's JWKS, so every claim can be made wrong in
//! exactly one way while the signature stays valid.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64ct::{Base64UrlUnpadded, Encoding};
use integration_tests::http;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_oauth_core::challenge::BearerChallenge;
use mcp_oauth_core::error::ErrorCode;
use mcp_oauth_verifier::Verifier;
use serde_json::{Value, json};

use crate::verifier::{Rs, as_server, jwt_verifier, start_rs, token_for};

const ISSUER: &str = "https://as.example.com";
const KID: &str = "k1";

/// An authorization server stand-in: one ES256 key, its JWKS on loopback,
/// and a count of JWKS fetches.
struct KeyServer {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    jwks_uri: String,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KeyServer {
    async fn start() -> Self {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec(); // 0x04 || x || y
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": KID, "alg": "ES256", "use": "sig",
            "x": Base64UrlUnpadded::encode_string(&public[1..33]),
            "y": Base64UrlUnpadded::encode_string(&public[33..65]),
        }]});
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            pkcs8: doc.as_ref().to_vec(),
            public,
            jwks_uri,
            fetches,
            task,
        }
    }

    /// A protected server that trusts this key for [`ISSUER`].
    async fn protect(&self) -> Rs {
        let jwks_uri = self.jwks_uri.clone();
        start_rs(move |resource| {
            Verifier::builder(resource)
                .authorization_server(ISSUER)
                .jwks_uri(jwks_uri)
                .required_scopes(["mcp"])
                .leeway(0)
                .jwks_refresh_interval(Duration::from_secs(60))
                .build()
                .unwrap()
        })
        .await
    }

    /// Signs `claims` with this key (`typ: at+jwt`, `kid`), after applying
    /// `tweak` to the header.
    fn sign(&self, claims: &Value, tweak: impl FnOnce(&mut Header)) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(KID.into());
        tweak(&mut header);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims that the protected server accepts.
fn good_claims(rs: &Rs) -> Value {
    json!({"iss": ISSUER, "sub": "alice", "aud": rs.resource, "client_id": "agent",
           "scope": "mcp", "iat": now(), "exp": now() + 300, "jti": "j1"})
}

/// `tools/list` with `authorization` as the header value (if any).
async fn call(rs: &Rs, authorization: Option<&str>) -> reqwest::Response {
    let mut b = http()
        .post(&rs.resource)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "1"}}}));
    if let Some(a) = authorization {
        b = b.header("authorization", a);
    }
    b.send().await.unwrap()
}

async fn with_token(rs: &Rs, token: &str) -> reqwest::Response {
    call(rs, Some(&format!("Bearer {token}"))).await
}

fn challenge(r: &reqwest::Response) -> BearerChallenge {
    BearerChallenge::parse(r.headers()["www-authenticate"].to_str().unwrap()).unwrap()
}

/// 401 `invalid_token`, with the metadata pointer a client needs.
fn assert_invalid_token(r: &reqwest::Response, what: &str) {
    assert_eq!(r.status(), 401, "{what}");
    let c = challenge(r);
    assert_eq!(c.error, Some(ErrorCode::InvalidToken), "{what}");
    assert!(c.resource_metadata.is_some(), "{what}");
}

#[tokio::test]
async fn a_well_formed_token_is_accepted() {
    // Control for the tests below: the same key and claims, unaltered.
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let token = keys.sign(&good_claims(&rs), |_| {});
    assert_eq!(with_token(&rs, &token).await.status(), 200);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let header = Base64UrlUnpadded::encode_string(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
    let claims = Base64UrlUnpadded::encode_string(good_claims(&rs).to_string().as_bytes());
    for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
        assert_invalid_token(&with_token(&rs, &token).await, "alg none");
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    // Algorithm confusion: an HMAC over the token with the published key
    // material as the secret.
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let jwk_json = reqwest::get(&keys.jwks_uri)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in [keys.public.clone(), jwk_json.into_bytes()] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(KID.into());
        let token = jsonwebtoken::encode(
            &header,
            &good_claims(&rs),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_invalid_token(&with_token(&rs, &token).await, "HS256 confusion");
    }
}

#[tokio::test]
async fn a_key_the_server_never_published_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let impostor = KeyServer::start().await;
    let token = impostor.sign(&good_claims(&rs), |_| {});
    assert_invalid_token(&with_token(&rs, &token).await, "unpublished key");
}

#[tokio::test]
async fn an_unknown_kid_flood_does_not_hammer_the_jwks_endpoint() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let claims = good_claims(&rs);
    for i in 0..30 {
        let token = keys.sign(&claims, |h| h.kid = Some(format!("random-{i}")));
        assert_invalid_token(&with_token(&rs, &token).await, "unknown kid");
    }
    let fetches = keys.fetches.load(Ordering::SeqCst);
    assert!(
        fetches <= 2,
        "{fetches} JWKS fetches for 30 unknown kids (first load + at most one refresh)"
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let mut claims = good_claims(&rs);
    claims["exp"] = json!(now() - 5);
    claims["iat"] = json!(now() - 600);
    assert_invalid_token(
        &with_token(&rs, &keys.sign(&claims, |_| {})).await,
        "expired",
    );
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let mut claims = good_claims(&rs);
    claims["nbf"] = json!(now() + 120);
    assert_invalid_token(&with_token(&rs, &keys.sign(&claims, |_| {})).await, "nbf");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    for iss in [
        json!("https://evil.example"),
        json!(format!("{ISSUER}/")),
        json!(null),
    ] {
        let mut claims = good_claims(&rs);
        claims["iss"] = iss.clone();
        let r = with_token(&rs, &keys.sign(&claims, |_| {})).await;
        assert_invalid_token(&r, &iss.to_string());
    }
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    // Token passthrough: a token minted for another resource.
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    for aud in [
        json!("https://other.example/mcp"),
        json!(format!("{}/other", rs.resource)),
        json!([]),
        json!(null),
    ] {
        let mut claims = good_claims(&rs);
        claims["aud"] = aud.clone();
        let r = with_token(&rs, &keys.sign(&claims, |_| {})).await;
        assert_invalid_token(&r, &aud.to_string());
    }
}

#[tokio::test]
async fn a_token_our_server_issued_for_another_resource_is_refused() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let other = token_for(&s, "http://127.0.0.1:1/mcp", "mcp").await;
    assert_invalid_token(&with_token(&rs, &other).await, "other resource");
    s.stop().await;
}

#[tokio::test]
async fn a_token_without_the_required_scope_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let mut claims = good_claims(&rs);
    claims["scope"] = json!("profile:write");
    let r = with_token(&rs, &keys.sign(&claims, |_| {})).await;
    assert_eq!(r.status(), 403);
    let c = challenge(&r);
    assert_eq!(c.error, Some(ErrorCode::InsufficientScope));
    assert_eq!(c.scope.unwrap().to_string(), "mcp");
}

#[tokio::test]
async fn a_token_that_is_not_an_access_token_is_refused() {
    // An ID token or other JWT signed by the same key (RFC 9068 §4).
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    for typ in [Some("JWT"), None, Some("id_token+jwt")] {
        let token = keys.sign(&good_claims(&rs), |h| h.typ = typ.map(Into::into));
        assert_invalid_token(&with_token(&rs, &token).await, &format!("{typ:?}"));
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let token = keys.sign(&good_claims(&rs), |_| {});
    let r = http()
        .post(format!("{}?access_token={token}", rs.resource))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(challenge(&r).error, Some(ErrorCode::InvalidRequest));
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let token = keys.sign(&good_claims(&rs), |_| {});
    let r = http()
        .post(&rs.resource)
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(challenge(&r).error, Some(ErrorCode::InvalidRequest));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    // RFC 9110 §11.1: `bearer` and `BEARER` are the same scheme; a wrong
    // scheme is a missing token.
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let token = keys.sign(&good_claims(&rs), |_| {});
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = call(&rs, Some(&format!("{scheme} {token}"))).await;
        assert_eq!(r.status(), 200, "{scheme}");
    }
    let r = call(&rs, Some(&format!("Basic {token}"))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(challenge(&r).error, None);
}

#[tokio::test]
async fn garbage_tokens_of_every_length_are_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let alphabet = b"abcXYZ019-._~+/=";
    for len in (1..=64).chain([100, 255, 256, 1000, 4096, 7000]) {
        let junk: String = (0..len)
            .map(|i| alphabet[(i * 7 + len) % alphabet.len()] as char)
            .collect();
        let r = with_token(&rs, &junk).await;
        assert!(
            [400, 401].contains(&r.status().as_u16()),
            "len {len}: {}",
            r.status()
        );
        assert!(r.headers().contains_key("www-authenticate"), "len {len}");
    }
    // Three segments that are not base64, or base64 of junk.
    for junk in ["a.b.c", "..", "e30.e30.", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"] {
        assert_invalid_token(&with_token(&rs, junk).await, junk);
    }
}
