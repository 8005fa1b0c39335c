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
use mcp_oauth_verifier::{JwtMode, Verifier, VerifierBuilder, WithIssuer};
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
        self.protect_with(|b| b).await
    }

    /// [`Self::protect`], with `tweak` applied to the builder.
    async fn protect_with(
        &self,
        tweak: impl FnOnce(VerifierBuilder<WithIssuer, JwtMode>) -> VerifierBuilder<WithIssuer, JwtMode>,
    ) -> Rs {
        let jwks_uri = self.jwks_uri.clone();
        start_rs(move |resource| {
            let b = Verifier::builder(resource)
                .authorization_server(ISSUER)
                .jwks_uri(jwks_uri)
                .required_scopes(["mcp"])
                .leeway(0)
                .jwks_refresh_interval(Duration::from_secs(60));
            tweak(b).build().unwrap()
        })
        .await
    }

    /// Signs `claims` under exactly this protected header.
    fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
        let input = format!("{}.{}", b64(header), b64(claims));
        let key = EncodingKey::from_ec_der(&self.pkcs8);
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::ES256).unwrap();
        format!("{input}.{sig}")
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

pub(super) use integration_tests::now;

/// Claims that the protected server accepts.
fn good_claims(rs: &Rs) -> Value {
    json!({"iss": ISSUER, "sub": "alice", "aud": rs.resource, "client_id": "agent",
           "scope": "mcp", "iat": now(), "exp": now() + 300, "jti": "j1"})
}

/// `initialize` with `authorization` as the header value (if any).
async fn call(rs: &Rs, authorization: Option<&str>) -> reqwest::Response {
    call_at(&rs.resource, authorization).await
}

async fn call_at(resource: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut b = http()
        .post(resource)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "1"}}}));
    if let Some(a) = authorization {
        b = b.header("authorization", a);
    }
    b.send().await.unwrap()
}

/// `initialize` at `resource` with this bearer token.
pub(super) async fn with_token(resource: &str, token: &str) -> reqwest::Response {
    call_at(resource, Some(&format!("Bearer {token}"))).await
}

fn challenge(r: &reqwest::Response) -> BearerChallenge {
    BearerChallenge::parse(r.headers()["www-authenticate"].to_str().unwrap()).unwrap()
}

/// 401 `invalid_token`, with the metadata pointer a client needs.
pub(super) fn assert_invalid_token(r: &reqwest::Response, what: &str) {
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
    assert_eq!(with_token(&rs.resource, &token).await.status(), 200);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let header = Base64UrlUnpadded::encode_string(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
    let claims = Base64UrlUnpadded::encode_string(good_claims(&rs).to_string().as_bytes());
    for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
        assert_invalid_token(&with_token(&rs.resource, &token).await, "alg none");
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
        assert_invalid_token(&with_token(&rs.resource, &token).await, "HS256 confusion");
    }
}

#[tokio::test]
async fn a_key_the_server_never_published_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let impostor = KeyServer::start().await;
    let token = impostor.sign(&good_claims(&rs), |_| {});
    assert_invalid_token(&with_token(&rs.resource, &token).await, "unpublished key");
}

#[tokio::test]
async fn an_unknown_kid_flood_does_not_hammer_the_jwks_endpoint() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let claims = good_claims(&rs);
    for i in 0..30 {
        let token = keys.sign(&claims, |h| h.kid = Some(format!("random-{i}")));
        assert_invalid_token(&with_token(&rs.resource, &token).await, "unknown kid");
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
        &with_token(&rs.resource, &keys.sign(&claims, |_| {})).await,
        "expired",
    );
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let mut claims = good_claims(&rs);
    claims["nbf"] = json!(now() + 120);
    assert_invalid_token(
        &with_token(&rs.resource, &keys.sign(&claims, |_| {})).await,
        "nbf",
    );
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
        let r = with_token(&rs.resource, &keys.sign(&claims, |_| {})).await;
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
        let r = with_token(&rs.resource, &keys.sign(&claims, |_| {})).await;
        assert_invalid_token(&r, &aud.to_string());
    }
}

#[tokio::test]
async fn a_token_our_server_issued_for_another_resource_is_refused() {
    let s = as_server().await;
    let rs = start_rs(jwt_verifier(&s.base)).await;
    let other = token_for(&s, "http://127.0.0.1:1/mcp", "mcp").await;
    assert_invalid_token(&with_token(&rs.resource, &other).await, "other resource");
    s.stop().await;
}

#[tokio::test]
async fn a_token_without_the_required_scope_is_refused() {
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let mut claims = good_claims(&rs);
    claims["scope"] = json!("profile:write");
    let r = with_token(&rs.resource, &keys.sign(&claims, |_| {})).await;
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
        assert_invalid_token(&with_token(&rs.resource, &token).await, &format!("{typ:?}"));
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
        let r = with_token(&rs.resource, &junk).await;
        assert!(
            [400, 401].contains(&r.status().as_u16()),
            "len {len}: {}",
            r.status()
        );
        assert!(r.headers().contains_key("www-authenticate"), "len {len}");
    }
    // Three segments that are not base64, or base64 of junk.
    for junk in ["a.b.c", "..", "e30.e30.", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"] {
        assert_invalid_token(&with_token(&rs.resource, junk).await, junk);
    }
}

#[tokio::test]
async fn allowing_untyped_tokens_admits_no_typ_or_jwt_but_no_other_type() {
    // R2: the option is for servers that predate RFC 9068; an explicit
    // type of another kind (ID token, our own session token, ...) is never
    // an access token.
    let keys = KeyServer::start().await;
    let rs = keys.protect_with(|b| b.allow_untyped_tokens()).await;
    for typ in [None, Some("JWT"), Some("jwt"), Some("at+jwt")] {
        let token = keys.sign(&good_claims(&rs), |h| h.typ = typ.map(Into::into));
        let r = with_token(&rs.resource, &token).await;
        assert_eq!(r.status(), 200, "{typ:?}");
    }
    for typ in [
        "mcp-oauth-session+jwt",
        "id_token+jwt",
        "logout+jwt",
        "secevent+jwt",
        "dpop+jwt",
    ] {
        let token = keys.sign(&good_claims(&rs), |h| h.typ = Some(typ.into()));
        assert_invalid_token(&with_token(&rs.resource, &token).await, typ);
    }
}

#[tokio::test]
async fn a_token_with_critical_header_extensions_is_refused() {
    // R5: we understand no JWS extension, so any `crit` means reject
    // (RFC 7515 §4.1.11), even one naming a registered claim.
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let claims = good_claims(&rs);
    let plain = json!({"alg": "ES256", "typ": "at+jwt", "kid": KID});
    let control = keys.sign_raw(&plain, &claims);
    assert_eq!(with_token(&rs.resource, &control).await.status(), 200);
    for crit in [
        json!(["https://ext.example/must-understand"]),
        json!(["exp"]),
        json!([]),
        json!(null),
    ] {
        let mut header = plain.clone();
        header["crit"] = crit.clone();
        header["https://ext.example/must-understand"] = json!("yes");
        let token = keys.sign_raw(&header, &claims);
        assert_invalid_token(&with_token(&rs.resource, &token).await, &crit.to_string());
    }
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    // B6: `iat` later than now (beyond the leeway, 0 here).
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let mut claims = good_claims(&rs);
    claims["iat"] = json!(now() + 120);
    let token = keys.sign(&claims, |_| {});
    assert_invalid_token(&with_token(&rs.resource, &token).await, "iat");
}

#[tokio::test]
async fn a_token_living_longer_than_the_maximum_is_refused() {
    // B6: a far-future `exp` is neither accepted nor cached until then.
    let keys = KeyServer::start().await;
    let rs = keys.protect().await;
    let hour = 3600;
    let lifetime = |iat: Option<u64>, exp: u64| {
        let mut claims = good_claims(&rs);
        claims["exp"] = json!(exp);
        match iat {
            Some(iat) => claims["iat"] = json!(iat),
            None => drop(claims.as_object_mut().unwrap().remove("iat")),
        }
        keys.sign(&claims, |_| {})
    };
    let ok = lifetime(Some(now()), now() + 23 * hour);
    assert_eq!(with_token(&rs.resource, &ok).await.status(), 200);
    for (what, token) in [
        ("30 days", lifetime(Some(now()), now() + 30 * 24 * hour)),
        (
            "100 years",
            lifetime(Some(now()), now() + 100 * 365 * 24 * hour),
        ),
        ("25 h without iat", lifetime(None, now() + 25 * hour)),
        (
            "iat long ago",
            lifetime(Some(now() - 48 * hour), now() + hour),
        ),
    ] {
        assert_invalid_token(&with_token(&rs.resource, &token).await, what);
    }
    // A shorter maximum, configured.
    let rs = keys
        .protect_with(|b| b.max_token_lifetime(Duration::from_secs(600)))
        .await;
    let mut claims = good_claims(&rs);
    claims["exp"] = json!(now() + 900);
    let token = keys.sign(&claims, |_| {});
    assert_invalid_token(&with_token(&rs.resource, &token).await, "15 min > 10 min");
}
