//! Signing keys over real sockets: automatic rotation across two instances
//! sharing storage, watched by a verifier that caches the JWKS (it must
//! never meet a `kid` it has not seen), and EdDSA end to end through our
//! verifier.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use integration_tests::{ManualClock, RESOURCE, TestServer, http};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_server::clock::Clock;
use mcp_oauth_server::keys::SigningAlgorithm;
use mcp_oauth_server::storage::{MemoryStorage, Storage};
use mcp_oauth_verifier::Verifier;
use serde_json::Value;

use crate::flow::{SERVICE, service_client};

const HOUR: u64 = 3600;

/// A client-credentials access token from `s`.
async fn service_token(s: &TestServer) -> String {
    let r = http()
        .post(s.url("/token"))
        .basic_auth(SERVICE.0, Some(SERVICE.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A verifier of the common kind: it fetches the JWKS, keeps it for a
/// fixed time, and never fetches it because of an unknown `kid`.
struct CachingVerifier {
    keys: HashMap<String, DecodingKey>,
    fetched_at: u64,
    ttl: u64,
    issuer: String,
}

impl CachingVerifier {
    async fn refresh_if_stale(&mut self, from: &TestServer, now: u64) {
        if !self.keys.is_empty() && now < self.fetched_at + self.ttl {
            return;
        }
        let set: JwkSet = http()
            .get(from.url("/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        self.keys = set
            .keys
            .iter()
            .map(|k| {
                let kid = k.common.key_id.clone().unwrap();
                (kid, DecodingKey::from_jwk(k).unwrap())
            })
            .collect();
        self.fetched_at = now;
    }

    /// The token's `kid`, or `None` when this cache does not hold it.
    fn verify(&self, token: &str) -> Result<String, String> {
        let header = jsonwebtoken::decode_header(token).unwrap();
        let kid = header.kid.unwrap();
        let Some(key) = self.keys.get(&kid) else {
            return Err(kid);
        };
        let mut v = Validation::new(header.alg);
        v.set_audience(&[RESOURCE]);
        v.set_issuer(&[&self.issuer]);
        jsonwebtoken::decode::<Value>(token, key, &v).unwrap();
        Ok(kid)
    }
}

#[tokio::test]
async fn rotation_across_two_instances_never_shows_a_caching_verifier_an_unknown_kid() {
    let clock = ManualClock::start();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let a = TestServer::start_on_clock_with(storage.clone(), clock.clone(), |c| {
        c.client(service_client())
    })
    .await;
    let issuer = a.base.clone();
    let b = TestServer::start_on_clock_with(storage, clock.clone(), move |mut c| {
        c.issuer = Issuer::parse(issuer).unwrap();
        c.client(service_client())
    })
    .await;
    let instances = [&a, &b];
    // The verifier keeps the JWKS twelve hours; keys are published a day
    // ahead (the default) and rotate every 30 days (the default).
    let mut cache = CachingVerifier {
        keys: HashMap::new(),
        fetched_at: 0,
        ttl: 12 * HOUR,
        issuer: a.base.clone(),
    };
    let mut signers = HashSet::new();
    for step in 0..(65 * 24 / 6) {
        clock.advance(6 * HOUR);
        for s in instances {
            s.server.maintain().await;
        }
        // Through a load balancer: each request to another instance.
        let (from, other) = (instances[step % 2], instances[(step + 1) % 2]);
        cache.refresh_if_stale(other, clock.now()).await;
        let token = service_token(from).await;
        match cache.verify(&token) {
            Ok(kid) => signers.insert(kid),
            Err(kid) => panic!(
                "day {}: a token signed by unpublished key {kid}",
                step * 6 / 24
            ),
        };
        assert_eq!(
            a.server.keys().jwks(),
            b.server.keys().jwks(),
            "both instances publish the same set"
        );
    }
    assert_eq!(signers.len(), 3, "two automatic rotations in 65 days");

    // The check can fail: a key made to sign at once (for a compromised
    // key) is one this cache has not seen.
    let next = a.server.rotate_signing_key(true).await.unwrap();
    let token = service_token(&a).await;
    assert_eq!(cache.verify(&token), Err(next.kid));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn eddsa_tokens_verify_through_the_verifier() {
    let s = TestServer::start(|mut c| {
        c.keys.algorithm = SigningAlgorithm::EdDsa;
        c.client(service_client())
    })
    .await;
    let jwks: Value = http()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    let token = service_token(&s).await;
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().alg,
        Algorithm::EdDSA
    );
    let verifier = Verifier::builder(RESOURCE)
        .authorization_server(&s.base)
        .build()
        .unwrap();
    let claims = verifier.verify_token(&token).await.unwrap();
    assert_eq!(claims.client_id.as_deref(), Some(SERVICE.0));
    // A flipped signature bit is refused.
    let mut forged = token.clone().into_bytes();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(verifier.verify_token(&forged).await.is_err());
    // Introspection on the server agrees.
    let r: Value = http()
        .post(s.url("/introspect"))
        .basic_auth(integration_tests::RS_ID, Some(integration_tests::RS_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], true, "{r}");
    s.stop().await;
}
