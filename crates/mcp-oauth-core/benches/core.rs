//! Hot paths of the core types: PKCE, `WWW-Authenticate`, scopes and
//! resource indicators, as the server, verifier and client call them on
//! every request.
//!
//! `cargo bench -p mcp-oauth-core --bench core`

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_oauth_core::challenge::BearerChallenge;
use mcp_oauth_core::error::ErrorCode;
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use std::hint::black_box;

fn pkce(c: &mut Criterion) {
    let verifier = PkceVerifier::generate().unwrap();
    let challenge = PkceChallenge::s256(&verifier);
    c.bench_function("pkce/s256 challenge from verifier", |b| {
        b.iter(|| PkceChallenge::s256(black_box(&verifier)))
    });
    c.bench_function(
        "pkce/verify (parse challenge + S256 + constant-time compare)",
        |b| {
            b.iter(|| {
                PkceChallenge::parse(black_box(challenge.as_str()), Some("S256"))
                    .unwrap()
                    .verify(black_box(verifier.secret()))
                    .unwrap()
            })
        },
    );
}

fn www_authenticate(c: &mut Criterion) {
    let header = BearerChallenge::new()
        .error(ErrorCode::InsufficientScope)
        .scope(ScopeSet::parse("mcp profile:write").unwrap())
        .resource_metadata("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        .error_description("the tool needs profile:write")
        .to_header_value();
    c.bench_function("www-authenticate/build", |b| {
        b.iter(|| {
            BearerChallenge::new()
                .error(ErrorCode::InsufficientScope)
                .scope(ScopeSet::parse(black_box("mcp profile:write")).unwrap())
                .resource_metadata(black_box(
                    "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
                ))
                .to_header_value()
        })
    });
    c.bench_function("www-authenticate/parse", |b| {
        b.iter(|| BearerChallenge::parse(black_box(&header)).unwrap())
    });
}

fn resource_and_scope(c: &mut Criterion) {
    c.bench_function("resource/canonicalise", |b| {
        b.iter(|| ResourceUri::parse(black_box("HTTPS://MCP.Example.com:443/mcp")).unwrap())
    });
    let granted = ScopeSet::parse("mcp profile:read profile:write files:read").unwrap();
    c.bench_function("scope/parse + subset check", |b| {
        b.iter(|| {
            ScopeSet::parse(black_box("mcp profile:write"))
                .unwrap()
                .is_subset(&granted)
        })
    });
}

criterion_group!(benches, pkce, www_authenticate, resource_and_scope);
criterion_main!(benches);
