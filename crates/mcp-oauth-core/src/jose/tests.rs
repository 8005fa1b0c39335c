use std::time::{Duration, Instant};

use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::jwk::Jwk;
use serde_json::{Value, json};

use super::*;

const X: &str = "8lZVm474RJPLRfENRwgmJBOrUBN_nXNDBGc9DEYFziI";
const Y: &str = "iTqLMxPlcM4XwFPMN36XNIhC6wFTG0XvLdp8q_Gv5B0";
/// Public half of the Ed25519 key below.
const ED_X: &str = "9Pkx1BWOyxR_GC5E9plmGFC1iDe7RAoNSI6DeoAfhkU";
/// Test-only keys, made for these tests.
#[cfg(feature = "jose-pem")]
const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBYazPfqJ1ob9Nq+Ah/DiuJGKBfe1VymeHbwWzZiOF3z
-----END PRIVATE KEY-----
";
#[cfg(feature = "jose-pem")]
const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA9Pkx1BWOyxR/GC5E9plmGFC1iDe7RAoNSI6DeoAfhkU=
-----END PUBLIC KEY-----
";
#[cfg(feature = "jose-pem")]
const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGsluOoTAR+RJLGeL
J/pY1BftBeW1hE8J6yFQELefGdihRANCAATw0l4abKNXT3Nx79IQ7GPk7JdSNzKI
pJ786wy9yBABYvvRSiCPKCnueohOI5h85wIJkOv8h2JBXYcICZHHt4mT
-----END PRIVATE KEY-----
";
#[cfg(feature = "jose-pem")]
const EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8NJeGmyjV09zce/SEOxj5OyXUjcy
iKSe/OsMvcgQAWL70Uogjygp7nqITiOYfOcCCZDr/IdiQV2HCAmRx7eJkw==
-----END PUBLIC KEY-----
";

fn ec(extra: Value) -> Value {
    let mut k = json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y});
    for (name, v) in extra.as_object().unwrap() {
        k[name] = v.clone();
    }
    k
}

fn jwk(v: Value) -> Jwk {
    serde_json::from_value(v).unwrap()
}

fn kids(set: &Value) -> Vec<Option<String>> {
    verification_keys(set).into_iter().map(|k| k.kid).collect()
}

// ---- algorithms ----

#[test]
fn the_allow_list_is_exactly_the_asymmetric_algorithms() {
    use jsonwebtoken::Algorithm as A;
    let all = [
        A::HS256,
        A::HS384,
        A::HS512,
        A::ES256,
        A::ES384,
        A::RS256,
        A::RS384,
        A::RS512,
        A::PS256,
        A::PS384,
        A::PS512,
        A::EdDSA,
    ];
    let allowed: Vec<_> = all.into_iter().filter(|a| is_asymmetric(*a)).collect();
    assert_eq!(allowed.len(), ASYMMETRIC_ALGS.len());
    assert!(allowed.iter().all(|a| ASYMMETRIC_ALGS.contains(a)));
    assert!(!is_asymmetric(A::HS256) && !is_asymmetric(A::HS384) && !is_asymmetric(A::HS512));
}

// ---- crit ----

fn jws(header: &str) -> String {
    format!(
        "{}.e30.sig",
        Base64UrlUnpadded::encode_string(header.as_bytes())
    )
}

#[test]
fn crit_is_refused() {
    assert!(!has_critical_extensions(&jws(
        r#"{"alg":"ES256","kid":"k"}"#
    )));
    assert!(has_critical_extensions(&jws(
        r#"{"alg":"ES256","crit":["exp"],"exp":1}"#
    )));
    assert!(has_critical_extensions(&jws(
        r#"{"alg":"ES256","crit":[]}"#
    )));
    assert!(has_critical_extensions(&jws(
        r#"{"alg":"ES256","crit":null}"#
    )));
    assert!(has_critical_extensions(&jws("[1,2]")));
    assert!(has_critical_extensions("!!!.e30.sig"));
    assert!(has_critical_extensions(""));
    assert!(has_critical_extensions(&"a".repeat(5000)));
}

// ---- JWK rules ----

#[test]
fn keys_not_meant_for_verification_are_left_out() {
    let set = json!({"keys": [
        ec(json!({"kid": "sig", "use": "sig"})),
        ec(json!({"kid": "plain"})),
        ec(json!({"kid": "verify", "key_ops": ["verify"]})),
        ec(json!({"kid": "enc", "use": "enc"})),
        ec(json!({"kid": "other-use", "use": "tls"})),
        ec(json!({"kid": "sign-only", "key_ops": ["sign"]})),
        ec(json!({"kid": "no-ops", "key_ops": []})),
        ec(json!({})),
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},
        {"kty": "oct", "kid": "bare-secret", "k": "c2VjcmV0"},
        {"kty": "unknown", "kid": "junk"},
        "not a key",
    ]});
    let some = |k: &str| Some(k.to_owned());
    assert_eq!(
        kids(&set),
        [some("sig"), some("plain"), some("verify"), None],
        "document order, kid-less members kept"
    );
}

#[test]
fn a_document_without_keys_has_no_usable_key() {
    for doc in [
        json!({}),
        json!({"keys": []}),
        json!({"keys": 3}),
        json!([]),
        json!(null),
    ] {
        assert!(verification_keys(&doc).is_empty(), "{doc}");
    }
}

#[test]
fn algorithms_follow_alg_else_the_key_type() {
    use jsonwebtoken::Algorithm as A;
    assert_eq!(algorithms_for(&jwk(ec(json!({})))), [A::ES256]);
    assert_eq!(
        algorithms_for(&jwk(ec(json!({"alg": "ES256"})))),
        [A::ES256]
    );
    // A declared alg wins over the key type; a mismatch then fails at
    // verification, never by widening what the key may verify.
    assert_eq!(
        algorithms_for(&jwk(ec(json!({"alg": "RS256"})))),
        [A::RS256]
    );
    assert!(algorithms_for(&jwk(ec(json!({"alg": "HS256"})))).is_empty());
    assert!(algorithms_for(&jwk(ec(json!({"alg": "RSA-OAEP"})))).is_empty());
    let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X});
    assert_eq!(algorithms_for(&jwk(ed)), [A::EdDSA]);
    let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
    let rsa_algs = algorithms_for(&jwk(rsa));
    assert_eq!(rsa_algs.len(), 6);
    assert!(rsa_algs.iter().all(|a| is_asymmetric(*a)));
    assert!(!rsa_algs.contains(&A::ES256) && !rsa_algs.contains(&A::EdDSA));
    let p521 = json!({"kty": "EC", "crv": "P-521", "x": X, "y": Y});
    if let Ok(k) = serde_json::from_value::<Jwk>(p521) {
        assert!(algorithms_for(&k).is_empty());
    }
}

#[test]
fn verification_purpose_follows_use_and_key_ops() {
    let yes = [
        json!({}),
        json!({"use": "sig"}),
        json!({"key_ops": ["verify"]}),
        json!({"key_ops": ["sign", "verify"]}),
        json!({"use": "sig", "key_ops": ["verify"]}),
    ];
    let no = [
        json!({"use": "enc"}),
        json!({"key_ops": []}),
        json!({"key_ops": ["sign"]}),
        json!({"key_ops": ["encrypt"]}),
        json!({"use": "enc", "key_ops": ["verify"]}),
        json!({"use": "sig", "key_ops": ["sign"]}),
    ];
    for extra in yes {
        assert!(is_for_verification(&jwk(ec(extra.clone()))), "{extra}");
    }
    for extra in no {
        assert!(!is_for_verification(&jwk(ec(extra.clone()))), "{extra}");
    }
}

#[test]
fn a_verification_key_carries_kid_and_algorithms() {
    let key = VerificationKey::from_jwk(&jwk(ec(json!({"kid": "k1"})))).unwrap();
    assert_eq!(key.kid.as_deref(), Some("k1"));
    assert!(key.verifies(jsonwebtoken::Algorithm::ES256));
    assert!(!key.verifies(jsonwebtoken::Algorithm::ES384));
    // Key material that cannot be read is refused rather than kept.
    let bad = ec(json!({"x": "not base64url!"}));
    assert!(VerificationKey::from_jwk(&jwk(bad)).is_none());
}

// ---- PEM ----

#[cfg(feature = "jose-pem")]
#[test]
fn pem_keys_sign_and_verify_by_algorithm() {
    use jsonwebtoken::{Algorithm as A, Header, Validation};
    for (private, public, alg) in [
        (EC_PRIVATE, EC_PUBLIC, A::ES256),
        (ED_PRIVATE, ED_PUBLIC, A::EdDSA),
    ] {
        let signing = encoding_key_from_pem(private, alg).unwrap();
        let verifying = decoding_key_from_pem(public, alg).unwrap();
        let token =
            jsonwebtoken::encode(&Header::new(alg), &json!({"sub": "a"}), &signing).unwrap();
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Value>(&token, &verifying, &validation).unwrap();
    }
}

#[cfg(feature = "jose-pem")]
#[test]
fn pem_errors_say_why_and_keep_their_source() {
    use jsonwebtoken::Algorithm as A;
    for alg in [A::HS256, A::HS384, A::HS512] {
        assert!(matches!(
            encoding_key_from_pem(EC_PRIVATE, alg),
            Err(PemKeyError::NotAsymmetric(a)) if a == alg
        ));
        assert!(matches!(
            decoding_key_from_pem(EC_PUBLIC, alg),
            Err(PemKeyError::NotAsymmetric(_))
        ));
    }
    let wrong_family = encoding_key_from_pem(EC_PRIVATE, A::PS256).unwrap_err();
    match &wrong_family {
        PemKeyError::Unreadable { alg, family, .. } => {
            assert_eq!((*alg, *family), (A::PS256, "RSA"));
        }
        other => panic!("{other:?}"),
    }
    assert!(std::error::Error::source(&wrong_family).is_some());
    assert!(wrong_family.to_string().contains("RSA"));
    let garbage = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        encoding_key_from_pem(garbage, A::ES256),
        Err(PemKeyError::Unreadable { .. })
    ));
    assert!(decoding_key_from_pem("", A::EdDSA).is_err());
}

// ---- refetch gate ----

const S: Duration = Duration::from_secs(1);

#[test]
fn the_first_attempt_passes_and_the_next_waits_the_interval() {
    let mut gate = RefetchGate::new(10 * S);
    let t0 = Instant::now();
    assert!(gate.try_pass(t0, KeyState::Loaded));
    for later in [Duration::ZERO, S, 9 * S, 10 * S - Duration::from_nanos(1)] {
        assert!(!gate.try_pass(t0 + later, KeyState::Loaded), "{later:?}");
    }
    // Refusals are not recorded: the interval counts from the last pass.
    assert!(gate.try_pass(t0 + 10 * S, KeyState::Loaded));
    assert!(!gate.allows(t0 + 19 * S, KeyState::Loaded));
    assert!(gate.allows(t0 + 20 * S, KeyState::Loaded));
}

#[test]
fn without_keys_the_retry_interval_applies() {
    let mut gate = RefetchGate::new(60 * S).with_retry_interval(S);
    let t0 = Instant::now();
    assert!(gate.try_pass(t0, KeyState::Missing));
    assert!(!gate.try_pass(t0 + S / 2, KeyState::Missing));
    assert!(gate.try_pass(t0 + S, KeyState::Missing));
    // Once keys are held, the long interval counts from that same attempt.
    assert!(!gate.allows(t0 + 30 * S, KeyState::Loaded));
    assert!(gate.allows(t0 + 61 * S, KeyState::Loaded));
}

#[test]
fn the_retry_interval_never_exceeds_the_interval() {
    let gate = RefetchGate::new(S / 5).with_retry_interval(S);
    assert_eq!(gate.retry_interval(), S / 5);
    assert_eq!(RefetchGate::new(7 * S).retry_interval(), 7 * S);
    let default = RefetchGate::default();
    assert_eq!(default.interval(), DEFAULT_REFETCH_INTERVAL);
    assert_eq!(default.retry_interval(), DEFAULT_RETRY_INTERVAL);
    assert!(DEFAULT_RETRY_INTERVAL <= DEFAULT_REFETCH_INTERVAL);
}

#[test]
fn a_zero_interval_always_passes() {
    let mut gate = RefetchGate::new(Duration::ZERO);
    let t0 = Instant::now();
    assert!(gate.try_pass(t0, KeyState::Loaded));
    assert!(gate.try_pass(t0, KeyState::Loaded));
    assert!(gate.try_pass(t0, KeyState::Missing));
}

#[test]
fn a_recorded_load_delays_the_first_refetch() {
    let mut gate = RefetchGate::new(5 * S);
    let t0 = Instant::now();
    gate.record(t0);
    assert!(!gate.try_pass(t0 + 4 * S, KeyState::Loaded));
    assert!(gate.try_pass(t0 + 5 * S, KeyState::Loaded));
}

#[test]
fn a_time_before_the_last_attempt_is_refused() {
    let mut gate = RefetchGate::new(Duration::ZERO);
    let t0 = Instant::now();
    gate.record(t0 + S);
    assert!(!gate.allows(t0, KeyState::Loaded));
    assert!(!gate.allows(t0, KeyState::Missing));
}
