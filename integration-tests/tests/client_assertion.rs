//! `private_key_jwt`: a machine client authenticates with a JWT signed by
//! its own key, registered as a JWK Set.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64ct::{Base64UrlUnpadded, Encoding};
use integration_tests::{TestServer, http};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub(crate) struct ClientKey {
    pub(crate) encoding: EncodingKey,
    pub(crate) jwk: Value,
}

pub(crate) fn new_key(kid: &str) -> ClientKey {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    ClientKey {
        encoding: EncodingKey::from_ec_der(doc.as_ref()),
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                    "x": Base64UrlUnpadded::encode_string(&point[1..33]),
                    "y": Base64UrlUnpadded::encode_string(&point[33..65])}),
    }
}

use integration_tests::now;

fn assertion(
    key: &ClientKey,
    kid: &str,
    client_id: &str,
    aud: &str,
    exp: u64,
    jti: &str,
) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    let claims = json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": exp, "iat": now(), "jti": jti});
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
}

async fn token_with(s: &TestServer, client_id: &str, jwt: &str) -> reqwest::Response {
    http()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn private_key_jwt_authenticates_and_refuses_forgeries() {
    let key = new_key("k1");
    let jwks = json!({"keys": [key.jwk]});
    let s = TestServer::start(move |c| {
        c.client(mcp_oauth_server::OperatorClient::service_with_keys(
            "m2m", jwks,
        ))
    })
    .await;
    let id = "m2m".to_owned();
    let token_url = s.url("/token");

    let good = assertion(&key, "k1", &id, &token_url, now() + 60, "jti-1");
    let r = token_with(&s, &id, &good).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);

    // The issuer is an accepted audience too.
    let r = token_with(
        &s,
        &id,
        &assertion(&key, "k1", &id, &s.base, now() + 60, "jti-2"),
    )
    .await;
    assert_eq!(r.status(), 200);

    let refused = [
        ("replay", good.clone()),
        (
            "wrong audience",
            assertion(
                &key,
                "k1",
                &id,
                "https://other.example/token",
                now() + 60,
                "jti-3",
            ),
        ),
        (
            "expired",
            assertion(&key, "k1", &id, &token_url, now() - 120, "jti-4"),
        ),
        (
            "too long-lived",
            assertion(&key, "k1", &id, &token_url, now() + 3600, "jti-5"),
        ),
        (
            "another key",
            assertion(&new_key("k1"), "k1", &id, &token_url, now() + 60, "jti-6"),
        ),
        (
            "unknown kid",
            assertion(&key, "k9", &id, &token_url, now() + 60, "jti-7"),
        ),
    ];
    for (what, jwt) in refused {
        let r = token_with(&s, &id, &jwt).await;
        assert_eq!(r.status(), 401, "{what}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_client",
            "{what}"
        );
    }
    // HMAC with the public key material as secret (alg confusion) is refused.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": id, "sub": id, "aud": token_url, "exp": now() + 60, "jti": "jti-8"}),
        &EncodingKey::from_secret(key.jwk["x"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    assert_eq!(token_with(&s, &id, &hs).await.status(), 401);
    // A secret alongside the assertion is ambiguous.
    let r = http()
        .post(s.url("/token"))
        .basic_auth(&id, Some("x"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", good.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Registration without keys is refused.
    let r = http()
        .post(s.url("/register"))
        .json(&json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "private_key_jwt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    s.stop().await;
}

/// A key the client published for encryption (`use: enc`), or only for
/// other operations (`key_ops` without `verify`), does not verify its
/// assertions, even when the signature is right.
#[tokio::test]
async fn keys_not_meant_for_verification_do_not_verify_assertions() {
    let enc = new_key("enc");
    let mut enc_jwk = enc.jwk.clone();
    enc_jwk["use"] = json!("enc");
    let ops = new_key("ops");
    let mut ops_jwk = ops.jwk.clone();
    ops_jwk.as_object_mut().unwrap().remove("use");
    ops_jwk["key_ops"] = json!(["encrypt"]);
    let good = new_key("good");
    let jwks = json!({"keys": [enc_jwk, ops_jwk, good.jwk]});
    let s = TestServer::start(move |c| {
        c.client(mcp_oauth_server::OperatorClient::service_with_keys(
            "m2m", jwks,
        ))
    })
    .await;
    let token_url = s.url("/token");
    for (key, kid) in [(&enc, "enc"), (&ops, "ops")] {
        let jwt = assertion(key, kid, "m2m", &token_url, now() + 60, kid);
        let r = token_with(&s, "m2m", &jwt).await;
        assert_eq!(r.status(), 401, "{kid}");
    }
    let jwt = assertion(&good, "good", "m2m", &token_url, now() + 60, "good");
    assert_eq!(token_with(&s, "m2m", &jwt).await.status(), 200);
}
