//! Attacks on where a protected MCP server's trust comes from: whose keys
//! verify whose tokens when several authorization servers are trusted,
//! which published keys count as verification keys, and which
//! introspection answers stand for an access token. The authorization
//! servers are stand-ins on loopback whose answers each test sets.

use std::time::Duration;

use mcp_oauth_verifier::Verifier;
use serde_json::{Value, json};

use super::fake_as::{FakeAs, Jwks};
use super::verifier::{assert_invalid_token, now, with_token};
use crate::verifier::{jwt_verifier, start_rs};

#[tokio::test]
async fn a_key_published_for_another_use_does_not_verify_signatures() {
    // B6: a JWK whose `use` is not `sig`, or whose `key_ops` lack
    // `verify`, is not a verification key, whatever signs with it.
    for (tweak, usable) in [
        (json!({"use": "enc"}), false),
        (
            json!({"use": null, "key_ops": ["encrypt", "wrapKey"]}),
            false,
        ),
        (json!({"use": null, "key_ops": ["sign"]}), false),
        (json!({"use": null, "key_ops": ["verify"]}), true),
    ] {
        let fake = FakeAs::start("k1").await;
        let mut jwk = fake.public_jwk();
        for (k, v) in tweak.as_object().unwrap() {
            match v {
                Value::Null => drop(jwk.as_object_mut().unwrap().remove(k)),
                v => jwk[k] = v.clone(),
            }
        }
        fake.set_jwks(Jwks::Document(json!({"keys": [jwk]})), Duration::ZERO);
        let rs = start_rs(jwt_verifier(&fake.issuer)).await;
        let token = fake.sign(
            &json!({"iss": fake.issuer, "sub": "alice", "aud": rs.resource,
                                      "scope": "mcp", "iat": now(), "exp": now() + 300}),
            |_| {},
        );
        let status = with_token(&rs.resource, &token).await.status();
        if usable {
            assert_eq!(status, 200, "{tweak}");
        } else {
            assert_eq!(status, 503, "{tweak}: no usable key, nothing verified");
        }
    }
}

#[tokio::test]
async fn keys_of_one_issuer_never_verify_another_issuers_tokens() {
    // R3: two trusted issuers, both with a key named `k1`. A token claiming
    // one issuer verifies only with that issuer's keys, and neither key set
    // overwrites the other.
    let a = FakeAs::start("k1").await;
    let b = FakeAs::start("k1").await;
    let (ia, ib) = (a.issuer.clone(), b.issuer.clone());
    let rs = start_rs(move |resource| {
        Verifier::builder(resource)
            .authorization_server(ia)
            .authorization_server(ib)
            .required_scopes(["mcp"])
            .build()
            .unwrap()
    })
    .await;
    let claims = |iss: &str| {
        json!({"iss": iss, "sub": "alice", "aud": rs.resource, "scope": "mcp",
               "iat": now(), "exp": now() + 300})
    };
    let from_a = a.sign(&claims(&a.issuer), |_| {});
    let from_b = b.sign(&claims(&b.issuer), |_| {});
    let b_posing_as_a = b.sign(&claims(&a.issuer), |_| {});
    let a_posing_as_b = a.sign(&claims(&b.issuer), |_| {});
    for round in 0..2 {
        assert_eq!(
            with_token(&rs.resource, &from_a).await.status(),
            200,
            "{round}"
        );
        assert_eq!(
            with_token(&rs.resource, &from_b).await.status(),
            200,
            "{round}"
        );
        assert_invalid_token(&with_token(&rs.resource, &b_posing_as_a).await, "B as A");
        assert_invalid_token(&with_token(&rs.resource, &a_posing_as_b).await, "A as B");
    }
    // An issuer nobody trusts costs no fetch anywhere.
    let c = FakeAs::start("k1").await;
    let fetched = (a.jwks_fetches(), b.jwks_fetches());
    let from_c = c.sign(&claims(&c.issuer), |h| h.kid = Some("new".into()));
    assert_invalid_token(&with_token(&rs.resource, &from_c).await, "untrusted");
    assert_eq!((a.jwks_fetches(), b.jwks_fetches()), fetched);
    assert_eq!(c.jwks_fetches(), 0);
}

#[tokio::test]
async fn introspected_tokens_of_another_type_are_refused() {
    // R4: behind an AS whose answers carry no `aud` (validate_resource
    // off), a refresh token the AS calls active must not pass for an
    // access token; nor may any other token type.
    let fake = FakeAs::start("k1").await;
    let issuer = fake.issuer.clone();
    let rs = start_rs(move |resource| {
        Verifier::builder(resource)
            .authorization_server(issuer.clone())
            .required_scopes(["mcp"])
            .introspection("rs", "rs-secret")
            .introspection_endpoint(format!("{issuer}/introspect"))
            .validate_resource(false)
            .build()
            .unwrap()
    })
    .await;
    let answer = |token_type: Option<Value>| {
        let mut a = json!({"active": true, "iss": fake.issuer, "sub": "alice",
                           "client_id": "agent", "scope": "mcp", "exp": now() + 600});
        if let Some(t) = token_type {
            a["token_type"] = t;
        }
        a
    };
    for (token, tt) in [
        ("refresh", json!("refresh_token")),
        ("dpop", json!("DPoP")),
        ("na", json!("N_A")),
        ("number", json!(1)),
    ] {
        fake.answer(token, answer(Some(tt)));
        assert_invalid_token(&with_token(&rs.resource, token).await, token);
    }
    for (token, tt) in [
        ("bearer", Some(json!("Bearer"))),
        ("lower", Some(json!("bearer"))),
        ("access", Some(json!("access_token"))),
        ("untyped", None),
    ] {
        fake.answer(token, answer(tt));
        assert_eq!(
            with_token(&rs.resource, token).await.status(),
            200,
            "{token}"
        );
    }
}

#[tokio::test]
async fn a_plain_http_introspection_endpoint_off_loopback_gets_no_credentials() {
    // The metadata of an authorization server (on loopback) names an
    // introspection endpoint in plain http elsewhere: the verifier must not
    // send its credentials and the caller's token there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "introspection_endpoint": "http://192.0.2.1:9/introspect",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    });
    let app = axum::Router::new().route(
        "/.well-known/oauth-authorization-server",
        axum::routing::get(move || async move { axum::Json(metadata) }),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
        .authorization_server(issuer)
        .required_scopes(["mcp"])
        .introspection("rs", "rs-secret")
        .build()
        .unwrap();
    let outcome = verifier.verify_token("some-token").await;
    assert!(
        matches!(outcome, Err(mcp_oauth_verifier::Rejection::Unavailable(_))),
        "{outcome:?}"
    );
    assert_eq!(verifier.stats().introspections, 0, "nothing was sent");
    server.abort();
}
