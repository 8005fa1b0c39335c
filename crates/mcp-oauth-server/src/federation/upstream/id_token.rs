//! ID token checks: the signature by a key of the provider's JWK Set
//! (fetched again at most every 30 s for an unknown `kid`), issuer,
//! audience, times and nonce.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcp_oauth_core::secret::constant_time_eq;
use serde_json::{Map, Value};

use super::{Endpoints, Federation, Upstream};
use crate::federation::FederationError;

/// Clock skew tolerated on ID token times.
const LEEWAY: u64 = 60;
/// How long a fetched JWK Set is used before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(3600);
/// Least time between fetches forced by an unknown `kid`.
const JWKS_REFETCH: Duration = Duration::from_secs(30);
/// Signature algorithms accepted on ID tokens: asymmetric only, never
/// `none` and never HMAC (which would make the client secret a signing key).
const ID_TOKEN_ALGS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl Federation {
    pub(super) async fn check_id_token(
        &self,
        up: &Upstream,
        endpoints: &Endpoints,
        token: &str,
        nonce: &str,
        now: u64,
    ) -> Result<Map<String, Value>, FederationError> {
        let bad = |why: &str| FederationError::IdToken(why.to_owned());
        if crate::jose::has_critical_extensions(token) {
            return Err(bad("declares critical header extensions"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad("malformed"))?;
        if !ID_TOKEN_ALGS.contains(&header.alg) {
            return Err(bad("its signature algorithm is not accepted"));
        }
        let key = self
            .key_for(up, endpoints, header.kid.as_deref(), header.alg)
            .await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY;
        validation.set_issuer(&[up.config.issuer.as_deref().unwrap_or_default()]);
        validation.set_audience(&[&up.config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| FederationError::IdToken(e.to_string()))?
            .claims;
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("no iat"))?;
        if iat > now + LEEWAY {
            return Err(bad("issued in the future"));
        }
        let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !constant_time_eq(got.as_bytes(), nonce.as_bytes()) {
            return Err(bad("the nonce does not match this sign-in"));
        }
        // OIDC Core §3.1.3.7: with several audiences, or an azp, the azp
        // must be us.
        let several = claims
            .get("aud")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > 1);
        match claims.get("azp") {
            Some(azp) if azp.as_str() != Some(up.config.client_id.as_str()) => {
                return Err(bad("authorized for another party (azp)"));
            }
            None if several => return Err(bad("several audiences and no azp")),
            _ => {}
        }
        Ok(claims)
    }

    /// The upstream key for `kid`; an unknown `kid` fetches the JWK Set
    /// again (at most every [`JWKS_REFETCH`]), for keys rotated upstream.
    async fn key_for(
        &self,
        up: &Upstream,
        endpoints: &Endpoints,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, FederationError> {
        let uri = endpoints
            .jwks_uri
            .as_deref()
            .ok_or_else(|| FederationError::Metadata("no jwks_uri".into()))?;
        let cached = up
            .jwks
            .lock()
            .clone()
            .filter(|(_, at)| at.elapsed() < JWKS_TTL)
            .map(|(keys, _)| keys);
        let keys = match cached {
            Some(k) => k,
            None => self.fetch_jwks(up, uri).await?,
        };
        if let Some(key) = select_key(&keys, kid, alg) {
            return key;
        }
        let may_refetch = {
            let mut last = up.forced_jwks_fetch.lock();
            let ok = last.is_none_or(|t| t.elapsed() >= JWKS_REFETCH);
            if ok {
                *last = Some(Instant::now());
            }
            ok
        };
        if may_refetch {
            let keys = self.fetch_jwks(up, uri).await?;
            if let Some(key) = select_key(&keys, kid, alg) {
                return key;
            }
        }
        Err(FederationError::IdToken(
            "signed with a key the provider does not publish".into(),
        ))
    }

    async fn fetch_jwks(&self, up: &Upstream, uri: &str) -> Result<Arc<Vec<Jwk>>, FederationError> {
        let doc = self.get_json(uri, None).await?;
        // Keys this library cannot read (other key types, encryption keys)
        // are skipped rather than failing the whole set.
        let keys: Vec<Jwk> = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| FederationError::Metadata("the JWK Set has no keys".into()))?
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .collect();
        let keys = Arc::new(keys);
        *up.jwks.lock() = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }
}

/// The key for `kid` (or the only signing key when there is no `kid`),
/// if its declared algorithm, if any, is `alg`.
fn select_key(
    keys: &[Jwk],
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<Result<DecodingKey, FederationError>> {
    let key = match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid))?,
        None if keys.len() == 1 => &keys[0],
        None => return None,
    };
    if let Some(declared) = key.common.key_algorithm
        && declared.to_string() != format!("{alg:?}")
    {
        return Some(Err(FederationError::IdToken(
            "the key is declared for another algorithm".into(),
        )));
    }
    Some(DecodingKey::from_jwk(key).map_err(|e| FederationError::Metadata(e.to_string())))
}
