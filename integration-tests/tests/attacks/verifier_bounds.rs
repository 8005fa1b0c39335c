//! Attacks on what a protected MCP server spends: memory held for requests
//! that went away, fetches an attacker can trigger at the authorization
//! server, cache memory, and how long a revoked token keeps working. Each
//! runs the real tower layer on loopback against a stand-in AS whose
//! answers the test controls.

use std::time::Duration;

use mcp_oauth_verifier::{Verifier, VerifierStats};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::fake_as::{FakeAs, Jwks};
use super::verifier::{now, with_token};
use crate::verifier::{Rs, start_rs};

/// A protected server built by `build`, and a handle on its verifier.
async fn protect(build: impl FnOnce(String) -> Verifier) -> (Rs, Verifier) {
    let mut handle = None;
    let rs = start_rs(|resource| {
        let v = build(resource);
        handle = Some(v.clone());
        v
    })
    .await;
    (rs, handle.unwrap())
}

/// Waits (20 s at most) until `done` holds for the verifier's stats;
/// returns the last stats seen.
async fn wait_for_stats(v: &Verifier, done: impl Fn(&VerifierStats) -> bool) -> VerifierStats {
    for _ in 0..200 {
        let s = v.stats();
        if done(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    v.stats()
}

/// An introspection-mode verifier for `fake`, with `ttl` for active answers
/// (`None`: the default).
fn introspecting(fake: &FakeAs, ttl: Option<Duration>) -> impl FnOnce(String) -> Verifier {
    let issuer = fake.issuer.clone();
    move |resource| {
        let b = Verifier::builder(resource)
            .authorization_server(issuer.clone())
            .required_scopes(["mcp"])
            .introspection("rs", "rs-secret")
            .introspection_endpoint(format!("{issuer}/introspect"));
        match ttl {
            Some(ttl) => b.introspection_cache_ttl(ttl).build().unwrap(),
            None => b.build().unwrap(),
        }
    }
}

fn active(rs: &Rs, fake: &FakeAs) -> Value {
    json!({"active": true, "iss": fake.issuer, "sub": "alice", "aud": rs.resource,
           "scope": "mcp", "token_type": "Bearer", "exp": now() + 600})
}

/// Accepted by the verifier (rmcp may still refuse the call itself).
fn passed(status: u16) -> bool {
    ![401, 403, 503].contains(&status)
}

#[tokio::test]
async fn requests_abandoned_during_introspection_leave_nothing_in_flight() {
    // A4: clients disconnect while the AS is slow; every in-flight entry
    // must go with its request, however many there were.
    let fake = FakeAs::start("k1").await;
    fake.slow_introspection(Duration::from_secs(60));
    let (rs, verifier) = protect(introspecting(&fake, None)).await;
    let addr = rs.base.trim_start_matches("http://").to_owned();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let mut sockets = Vec::new();
    let count = 300;
    for i in 0..count {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let token = format!("random-{i}-{}", now());
        let request = format!(
            "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(request.as_bytes()).await.unwrap();
        sockets.push(s);
    }
    let busy = wait_for_stats(&verifier, |s| s.introspections_in_flight == count).await;
    assert_eq!(
        busy.introspections_in_flight, count,
        "every request waits for the slow AS"
    );
    drop(sockets); // the clients give up
    let after = wait_for_stats(&verifier, |s| s.introspections_in_flight == 0).await;
    assert_eq!(
        after.introspections_in_flight, 0,
        "in-flight introspections left behind by abandoned requests"
    );
    assert_eq!(after.introspections, count);
    assert_eq!(after.cached_tokens, 0, "no verdict for abandoned calls");
}

/// 30 concurrent requests whose tokens name random `kid`s; their statuses.
async fn unknown_kid_burst(rs: &Rs, fake: &FakeAs) -> Vec<u16> {
    let claims = json!({"iss": fake.issuer, "sub": "alice", "aud": rs.resource,
                        "scope": "mcp", "iat": now(), "exp": now() + 300});
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let token = fake.sign(&claims, |h| h.kid = Some(format!("random-{i}")));
            let resource = rs.resource.clone();
            tokio::spawn(async move { with_token(&resource, &token).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

fn jwt_verifier(fake: &FakeAs) -> impl FnOnce(String) -> Verifier {
    let issuer = fake.issuer.clone();
    move |resource| {
        Verifier::builder(resource)
            .authorization_server(issuer)
            .required_scopes(["mcp"])
            .jwks_refresh_interval(Duration::from_secs(60))
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn a_failing_jwks_endpoint_is_not_fetched_once_per_request() {
    // A9: before any key was loaded, with the JWKS answering 500 (slowly),
    // a burst of random kids makes one fetch, and everyone is told 503.
    let fake = FakeAs::start("k1").await;
    fake.set_jwks(Jwks::Fail, Duration::from_millis(300));
    let (rs, verifier) = protect(jwt_verifier(&fake)).await;
    let statuses = unknown_kid_burst(&rs, &fake).await;
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    let fetches = fake.jwks_fetches();
    assert!(fetches <= 2, "{fetches} JWKS fetches for 30 requests");
    assert_eq!(verifier.stats().jwks_fetches, fetches as u64);
    assert_eq!(verifier.stats().metadata_fetches, 1);

    // Once the AS serves its key again, the verifier recovers by itself
    // (the retry spacing is short while no key is loaded).
    fake.set_jwks(Jwks::Key, Duration::ZERO);
    let good = fake.sign(
        &json!({"iss": fake.issuer, "sub": "alice", "aud": rs.resource,
                "scope": "mcp", "iat": now(), "exp": now() + 300}),
        |_| {},
    );
    let mut status = 0;
    for _ in 0..40 {
        status = with_token(&rs.resource, &good).await.status().as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_empty_or_unusable_jwk_set_is_not_fetched_once_per_request() {
    // A9: the JWKS answers, but with nothing the verifier can use.
    let fake = FakeAs::start("k1").await;
    let mut encryption_only = fake.public_jwk();
    encryption_only["use"] = json!("enc");
    for document in [json!({"keys": []}), json!({"keys": [encryption_only]})] {
        fake.set_jwks(Jwks::Document(document.clone()), Duration::from_millis(300));
        let before = fake.jwks_fetches();
        let (rs, _verifier) = protect(jwt_verifier(&fake)).await;
        let statuses = unknown_kid_burst(&rs, &fake).await;
        assert!(
            statuses.iter().all(|s| [401, 503].contains(s)),
            "{document}: {statuses:?}"
        );
        let fetches = fake.jwks_fetches() - before;
        assert!(
            fetches <= 2,
            "{document}: {fetches} JWKS fetches for 30 requests"
        );
    }
}

#[tokio::test]
async fn without_introspection_caching_a_revoked_token_is_refused_at_once() {
    // A10: `introspection_cache_ttl(ZERO)` asks the AS on every request.
    let fake = FakeAs::start("k1").await;
    let (rs, _v) = protect(introspecting(&fake, Some(Duration::ZERO))).await;
    fake.answer("t", active(&rs, &fake));
    for _ in 0..3 {
        assert!(passed(
            with_token(&rs.resource, "t").await.status().as_u16()
        ));
    }
    assert_eq!(fake.introspections(), 3);
    fake.answer("t", json!({"active": false})); // revoked at the AS
    let r = with_token(&rs.resource, "t").await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_revoked_token_works_only_until_the_introspection_cache_ttl_ends() {
    // A10: with the default TTL (30 s, documented as the revocation delay)
    // a revoked token is still accepted from the cache right after the
    // revocation; with a short TTL, it is refused once the TTL has passed.
    let fake = FakeAs::start("k1").await;
    let (rs, _v) = protect(introspecting(&fake, None)).await;
    fake.answer("t", active(&rs, &fake));
    assert!(passed(
        with_token(&rs.resource, "t").await.status().as_u16()
    ));
    fake.answer("t", json!({"active": false}));
    assert!(passed(
        with_token(&rs.resource, "t").await.status().as_u16()
    ));
    assert_eq!(
        fake.introspections(),
        1,
        "the second request was answered from the cache"
    );

    let fake = FakeAs::start("k1").await;
    let (rs, _v) = protect(introspecting(&fake, Some(Duration::from_secs(1)))).await;
    fake.answer("t", active(&rs, &fake));
    assert!(passed(
        with_token(&rs.resource, "t").await.status().as_u16()
    ));
    fake.answer("t", json!({"active": false}));
    let mut status = 0;
    for _ in 0..30 {
        status = with_token(&rs.resource, "t").await.status().as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 401, "still accepted well after the TTL");
    assert!(fake.introspections() >= 2);
}

#[tokio::test]
async fn the_token_cache_stays_within_its_byte_budget() {
    // B3: 300 distinct active tokens with 4 KiB of claims each, at a
    // verifier whose cache may hold 256 KiB.
    let fake = FakeAs::start("k1").await;
    let budget = 256 * 1024;
    let issuer = fake.issuer.clone();
    let (rs, verifier) = protect(move |resource| {
        Verifier::builder(resource)
            .authorization_server(issuer.clone())
            .required_scopes(["mcp"])
            .introspection("rs", "rs-secret")
            .introspection_endpoint(format!("{issuer}/introspect"))
            .introspection_cache_ttl(Duration::from_secs(60))
            .cache_max_bytes(budget)
            .build()
            .unwrap()
    })
    .await;
    let mut answer = active(&rs, &fake);
    answer["padding"] = json!("x".repeat(4096));
    for i in 0..300 {
        fake.answer(&format!("t{i}"), answer.clone());
    }
    for i in 0..300 {
        let r = with_token(&rs.resource, &format!("t{i}")).await;
        assert!(passed(r.status().as_u16()), "{}", r.status());
    }
    let stats = verifier.stats();
    assert!(
        stats.cache_bytes <= budget,
        "{} bytes cached, budget {budget}",
        stats.cache_bytes
    );
    assert!(stats.cached_tokens < 300, "{stats:?}");
}
