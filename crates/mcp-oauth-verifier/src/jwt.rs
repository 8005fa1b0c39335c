//! Local verification of JWT access tokens (RFC 9068) with the
//! authorization servers' JWK Sets: keys are cached, refreshed when a token
//! names an unknown `kid` (at most once per `min_refresh_interval`, so a
//! flood of random `kid`s cannot hammer the AS), and never accepted for
//! `none` or, without a configured shared key, HMAC.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use parking_lot::RwLock;
use serde_json::Value;

use crate::claims::{Claims, Rejection};

/// A verification key and the algorithms it may verify.
struct Key {
    key: DecodingKey,
    algs: Vec<Algorithm>,
}

/// JWT verification state.
pub(crate) struct JwtVerifier {
    /// Explicit JWKS URLs (else discovered from each issuer's metadata).
    pub(crate) jwks_uris: Vec<String>,
    keys: RwLock<HashMap<String, Key>>,
    shared: Option<(DecodingKey, Algorithm)>,
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    min_refresh_interval: Duration,
    allow_untyped: bool,
}

fn algs_for(jwk: &Jwk) -> Vec<Algorithm> {
    if let Some(alg) = jwk.common.key_algorithm {
        let a = match alg {
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::ES384 => Algorithm::ES384,
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::RS384 => Algorithm::RS384,
            KeyAlgorithm::RS512 => Algorithm::RS512,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::PS384 => Algorithm::PS384,
            KeyAlgorithm::PS512 => Algorithm::PS512,
            _ => return Vec::new(),
        };
        return vec![a];
    }
    match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => Vec::new(),
        },
        AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        _ => Vec::new(),
    }
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

impl JwtVerifier {
    pub(crate) fn new(
        jwks_uris: Vec<String>,
        shared: Option<(Vec<u8>, Algorithm)>,
        min_refresh_interval: Duration,
        allow_untyped: bool,
    ) -> Self {
        Self {
            jwks_uris,
            keys: RwLock::new(HashMap::new()),
            shared: shared.map(|(k, a)| (DecodingKey::from_secret(&k), a)),
            last_refresh: tokio::sync::Mutex::new(None),
            min_refresh_interval,
            allow_untyped,
        }
    }

    /// Replaces the key set with what `uris` serve now, unless it was
    /// refreshed less than the minimum interval ago (then returns false).
    pub(crate) async fn refresh(
        &self,
        http: &reqwest::Client,
        uris: &[String],
        force: bool,
    ) -> Result<bool, Rejection> {
        let mut last = self.last_refresh.lock().await;
        if !force && last.is_some_and(|t| t.elapsed() < self.min_refresh_interval) {
            return Ok(false);
        }
        let mut fresh = HashMap::new();
        for uri in uris {
            let set: JwkSet = http
                .get(uri)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| Rejection::Unavailable(format!("JWKS {uri}: {e}")))?
                .json()
                .await
                .map_err(|e| Rejection::Unavailable(format!("JWKS {uri}: {e}")))?;
            for jwk in &set.keys {
                let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
                else {
                    continue;
                };
                let algs = algs_for(jwk);
                if !algs.is_empty() {
                    fresh.insert(kid, Key { key, algs });
                }
            }
        }
        *self.keys.write() = fresh;
        *last = Some(Instant::now());
        Ok(true)
    }

    /// Whether a key with this `kid` is known.
    pub(crate) fn knows(&self, kid: &str) -> bool {
        self.keys.read().contains_key(kid)
    }

    /// Whether any key is loaded.
    pub(crate) fn is_loaded(&self) -> bool {
        !self.keys.read().is_empty()
    }

    /// Verifies signature, type, issuer, time and audience. The caller has
    /// made sure the token's `kid` is known if it can be.
    pub(crate) fn verify(
        &self,
        token: &str,
        issuers: &[String],
        resource: &ResourceUri,
        leeway: u64,
    ) -> Result<Claims, Rejection> {
        let invalid = |m: &str| Rejection::InvalidToken(m.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        let typ_ok = match header.typ.as_deref() {
            Some(t) => {
                t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
            }
            None => false,
        };
        if !typ_ok && !self.allow_untyped {
            return Err(invalid("not an access token (typ must be at+jwt)"));
        }
        let keys = self.keys.read();
        let key = if is_hmac(header.alg) {
            match &self.shared {
                Some((k, a)) if *a == header.alg => k,
                _ => return Err(invalid("signing algorithm not accepted")),
            }
        } else {
            let found = match header.kid.as_deref() {
                Some(kid) => keys.get(kid),
                None if keys.len() == 1 => keys.values().next(),
                None => None,
            };
            let k = found.ok_or_else(|| invalid("unknown signing key"))?;
            if !k.algs.contains(&header.alg) {
                return Err(invalid("signing algorithm does not match the key"));
            }
            &k.key
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = leeway;
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.set_issuer(issuers);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<BTreeMap<String, Value>>(token, key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::ExpiredSignature => invalid("token expired"),
                    K::ImmatureSignature => invalid("token not yet valid"),
                    K::InvalidIssuer => {
                        invalid("token from an issuer this resource does not trust")
                    }
                    K::InvalidSignature => invalid("bad signature"),
                    _ => invalid("invalid token"),
                }
            })?;
        claims_from_map(data.claims, resource, true)
    }
}

/// Builds [`Claims`] from a JWT payload or an introspection response, and
/// checks the audience when `check_aud`.
pub(crate) fn claims_from_map(
    raw: BTreeMap<String, Value>,
    resource: &ResourceUri,
    check_aud: bool,
) -> Result<Claims, Rejection> {
    let invalid = |m: &str| Rejection::InvalidToken(m.to_owned());
    let audience: Vec<String> = match raw.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if check_aud && !audience.iter().any(|a| resource.matches(a)) {
        return Err(invalid("token was issued for another resource"));
    }
    let subject = raw
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("token has no subject"))?
        .to_owned();
    let scopes = match (raw.get("scope"), raw.get("scp")) {
        (Some(Value::String(s)), _) => ScopeSet::parse_lossy(s),
        (_, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).collect(),
        (_, Some(Value::String(s))) => ScopeSet::parse_lossy(s),
        _ => ScopeSet::new(),
    };
    Ok(Claims {
        subject,
        client_id: raw
            .get("client_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        scopes,
        audience,
        issuer: raw.get("iss").and_then(Value::as_str).map(str::to_owned),
        expires_at: raw.get("exp").and_then(Value::as_u64).unwrap_or(0),
        raw,
    })
}
