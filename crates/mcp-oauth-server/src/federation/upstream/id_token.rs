//! ID token checks: the signature by a key of the provider's JWK Set
//! (fetched again for an unknown `kid` at most every
//! [`DEFAULT_REFETCH_INTERVAL`](mcp_oauth_core::jose::DEFAULT_REFETCH_INTERVAL)),
//! issuer, audience, times and nonce. Which algorithms and which keys may
//! sign is the shared rule of [`mcp_oauth_core::jose`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcp_oauth_core::jose::{KeyState, VerificationKey, is_asymmetric, verification_keys};
use mcp_oauth_core::secret::constant_time_eq;
use serde_json::{Map, Value};

use super::{Endpoints, Federation, Upstream};
use crate::federation::FederationError;

/// Clock skew tolerated on ID token times.
const LEEWAY: u64 = 60;
/// How long a fetched JWK Set is used before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(3600);

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
        if mcp_oauth_core::jose::has_critical_extensions(token) {
            return Err(bad("declares critical header extensions"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad("malformed"))?;
        // Asymmetric only: never `none`, and never HMAC (which would make
        // the client secret a signing key).
        if !is_asymmetric(header.alg) {
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
    /// again (as often as the upstream's refetch gate allows), for keys
    /// rotated upstream.
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
        let may_refetch = up
            .forced_jwks_fetch
            .lock()
            .try_pass(Instant::now(), KeyState::Loaded);
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

    async fn fetch_jwks(
        &self,
        up: &Upstream,
        uri: &str,
    ) -> Result<Arc<Vec<VerificationKey>>, FederationError> {
        let doc = Value::Object(self.get_json(uri, None).await?);
        if !doc.get("keys").is_some_and(Value::is_array) {
            return Err(FederationError::Metadata("the JWK Set has no keys".into()));
        }
        // Keys this library cannot read, and keys not meant for verifying
        // signatures (encryption keys, symmetric keys), are skipped rather
        // than failing the whole set.
        let keys = Arc::new(verification_keys(&doc));
        *up.jwks.lock() = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }
}

/// The key for `kid` (or the only signing key when there is no `kid`),
/// if it may verify `alg`.
fn select_key(
    keys: &[VerificationKey],
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<Result<DecodingKey, FederationError>> {
    let key = match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid))?,
        None if keys.len() == 1 => &keys[0],
        None => return None,
    };
    if !key.verifies(alg) {
        return Some(Err(FederationError::IdToken(
            "the key does not verify this algorithm".into(),
        )));
    }
    Some(Ok(key.key.clone()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(members: Value) -> Vec<VerificationKey> {
        verification_keys(&json!({ "keys": members }))
    }

    fn ec(kid: Option<&str>) -> Value {
        let mut k = json!({"kty": "EC", "crv": "P-256",
            "x": "8lZVm474RJPLRfENRwgmJBOrUBN_nXNDBGc9DEYFziI",
            "y": "iTqLMxPlcM4XwFPMN36XNIhC6wFTG0XvLdp8q_Gv5B0"});
        if let Some(kid) = kid {
            k["kid"] = json!(kid);
        }
        k
    }

    #[test]
    fn a_key_is_chosen_by_kid_or_as_the_only_one() {
        let one = keys(json!([ec(None)]));
        assert!(matches!(
            select_key(&one, None, Algorithm::ES256),
            Some(Ok(_))
        ));
        assert!(select_key(&one, Some("k1"), Algorithm::ES256).is_none());

        let two = keys(json!([ec(Some("k1")), ec(Some("k2"))]));
        assert!(select_key(&two, None, Algorithm::ES256).is_none());
        assert!(matches!(
            select_key(&two, Some("k2"), Algorithm::ES256),
            Some(Ok(_))
        ));
        assert!(select_key(&two, Some("k3"), Algorithm::ES256).is_none());
    }

    #[test]
    fn a_key_signs_only_with_its_algorithms() {
        let mut declared = ec(Some("k1"));
        declared["alg"] = json!("ES384");
        let set = keys(json!([declared, ec(Some("k2"))]));
        assert!(matches!(
            select_key(&set, Some("k1"), Algorithm::ES256),
            Some(Err(_))
        ));
        assert!(matches!(
            select_key(&set, Some("k2"), Algorithm::RS256),
            Some(Err(_))
        ));
    }

    #[test]
    fn encryption_and_symmetric_keys_are_never_chosen() {
        let mut enc = ec(Some("enc"));
        enc["use"] = json!("enc");
        let hmac = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
        let set = keys(json!([enc, hmac]));
        assert!(set.is_empty());
    }
}
