//! Per-request cost of token verification: a JWT verified from scratch
//! (signature, claims, audience), a JWT found in the verified-token cache,
//! and a cached introspection answer. A stub authorization server on
//! loopback serves the metadata, the JWKS and the introspection endpoint.
//!
//! `cargo bench -p mcp-oauth-verifier --bench verify`

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Json;
use axum::routing::{get, post};
use base64ct::{Base64UrlUnpadded, Encoding};
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_oauth_verifier::Verifier;
use serde_json::json;

const RESOURCE: &str = "http://127.0.0.1:8000/mcp";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Starts the stub AS; returns its issuer and a token it "issued".
async fn stub() -> (String, String) {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
                     "x": Base64UrlUnpadded::encode_string(&point[1..33]),
                     "y": Base64UrlUnpadded::encode_string(&point[33..65])});
    let meta = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks"),
                      "introspection_endpoint": format!("{issuer}/introspect")});
    let exp = now() + 3600;
    let active = json!({"active": true, "sub": "alice", "aud": RESOURCE, "scope": "mcp", "exp": exp, "iss": issuer});
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { Json(meta) }),
        )
        .route(
            "/jwks",
            get(move || async move { Json(json!({"keys": [jwk]})) }),
        )
        .route("/introspect", post(move || async move { Json(active) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("k1".into());
    let claims = json!({"iss": issuer, "sub": "alice", "aud": RESOURCE, "exp": exp, "iat": now(),
                        "jti": "j", "client_id": "c", "scope": "mcp"});
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(doc.as_ref()),
    )
    .unwrap();
    (issuer, token)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (issuer, token) = rt.block_on(stub());
    let base = || {
        Verifier::builder(RESOURCE)
            .authorization_server(issuer.clone())
            .required_scopes(["mcp"])
    };
    let uncached = base().cache_max_bytes(0).build().unwrap();
    let cached = base().build().unwrap();
    let introspecting = base().introspection("rs", "secret").build().unwrap();
    // Warm: keys fetched, caches filled.
    for v in [&uncached, &cached, &introspecting] {
        rt.block_on(v.verify_token(&token)).unwrap();
    }

    let mut g = c.benchmark_group("verify");
    g.bench_function("jwt ES256, no cache", |b| {
        b.to_async(&rt)
            .iter(|| async { uncached.verify_token(&token).await.unwrap() })
    });
    g.bench_function("jwt, cached hit", |b| {
        b.to_async(&rt)
            .iter(|| async { cached.verify_token(&token).await.unwrap() })
    });
    g.bench_function("introspection, cached hit", |b| {
        b.to_async(&rt)
            .iter(|| async { introspecting.verify_token(&token).await.unwrap() })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
