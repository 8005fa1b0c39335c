//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9):
//! the client signs a short-lived JWT with its private key; the server
//! verifies it against the client's registered `jwks` or `jwks_uri`
//! (fetched through the SSRF guard), checks `iss` = `sub` = client id,
//! `aud` = the token endpoint or the issuer, the time window, and refuses a
//! `jti` seen before.

use std::sync::Arc;

use jsonwebtoken::Validation;
use jsonwebtoken::jwk::JwkSet;
use mcp_oauth_core::client_limits::MAX_JWKS_KEYS;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::jose::VerificationKey;
use mcp_oauth_core::registration::{ClientAuthMethod, ClientMetadata};
use serde::Deserialize;

use super::Clients;
use crate::fetch::FetchError;
use crate::fetch::cache::FetchCache;
use crate::oauth::error::OAuthError;
use crate::storage::ClientRecord;

/// Algorithms a client may sign its assertions with: the asymmetric ones,
/// never `none`, never HMAC (that would be `client_secret_jwt`).
pub(crate) use mcp_oauth_core::jose::ASYMMETRIC_ALGS as ASSERTION_ALGS;

/// Longest assertion lifetime accepted.
const MAX_LIFETIME: u64 = 600;

#[derive(Deserialize)]
struct Peek {
    iss: Option<String>,
    sub: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    jti: String,
}

fn invalid(msg: impl AsRef<str>) -> ErrorResponse {
    ErrorResponse::invalid_client(msg)
}

/// A key set holds at most [`MAX_JWKS_KEYS`] keys: an assertion costs one
/// signature check, never one per key of a set a stranger made huge.
fn check_key_count(set: &JwkSet) -> Result<(), String> {
    if set.keys.len() > MAX_JWKS_KEYS {
        Err(format!("a JWK Set holds at most {MAX_JWKS_KEYS} keys"))
    } else {
        Ok(())
    }
}

/// Why a client's `jwks_uri` gave no keys (the reason is logged, never
/// told to the caller).
#[derive(Debug, Clone)]
pub(crate) struct KeysUnavailable(String);

impl From<FetchError> for KeysUnavailable {
    fn from(e: FetchError) -> Self {
        Self(e.to_string())
    }
}

/// The key sets clients publish at their `jwks_uri`, fetched through the
/// SSRF guard and cached (single flight, failures remembered).
pub(crate) type ClientKeySets = FetchCache<Arc<JwkSet>, KeysUnavailable>;

/// Checks a registration's `jwks`/`jwks_uri` for `private_key_jwt`.
pub(crate) fn validate_registration(metadata: &ClientMetadata) -> Result<(), String> {
    match (&metadata.jwks, &metadata.jwks_uri) {
        (Some(_), Some(_)) => Err("jwks and jwks_uri must not both be given".into()),
        (None, None) => Err("private_key_jwt needs jwks or jwks_uri".into()),
        (Some(jwks), None) => serde_json::from_value::<JwkSet>(jwks.clone())
            .map_err(|e| format!("jwks is not a valid JWK Set: {e}"))
            .and_then(|set| check_key_count(&set)),
        (None, Some(uri)) => url::Url::parse(uri)
            .map(|_| ())
            .map_err(|e| format!("jwks_uri is not a URL: {e}")),
    }
}

/// Verifies a client assertion; `body_client_id` is the `client_id` sent
/// beside it, if any.
/// (`address` pays for a metadata document not yet cached, as at
/// `/authorize`: the client is named by claims nobody has verified yet).
pub(crate) async fn authenticate(
    clients: &Clients,
    address: &str,
    assertion: &str,
    body_client_id: Option<&str>,
) -> Result<ClientRecord, OAuthError> {
    if mcp_oauth_core::jose::has_critical_extensions(assertion) {
        return Err(invalid("client assertion declares critical extensions").into());
    }
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| invalid("malformed client assertion"))?;
    if !ASSERTION_ALGS.contains(&header.alg) {
        return Err(invalid("client assertion algorithm not accepted").into());
    }
    let peek: Peek = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| invalid("malformed client assertion"))?;
    let client_id = match (peek.iss, peek.sub) {
        (Some(iss), Some(sub)) if iss == sub => iss,
        _ => return Err(invalid("client assertion iss and sub must both be the client id").into()),
    };
    if body_client_id.is_some_and(|b| b != client_id) {
        return Err(invalid("client_id differs from the assertion").into());
    }
    let Some(client) = clients.get_for(address, &client_id).await? else {
        return Err(invalid("unknown client").into());
    };
    if client.metadata.effective_auth_method() != ClientAuthMethod::PrivateKeyJwt {
        return Err(invalid("this client does not authenticate with private_key_jwt").into());
    }
    let keys = client_keys(clients, &client.metadata).await?;
    // One key is tried: the one the `kid` names, or the only one.
    let key = match (&header.kid, keys.keys.as_slice()) {
        (Some(kid), _) => keys.find(kid),
        (None, [only]) => Some(only),
        (None, _) => {
            return Err(
                invalid("the client has several keys: the assertion must name one (kid)").into(),
            );
        }
    };
    let mut validation = Validation::new(header.alg);
    validation.leeway = 30;
    validation.set_issuer(&[&client_id]);
    validation.set_audience(&clients.audiences);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud", "jti"]);
    // The key must be one for verifying signatures (`use`, `key_ops`) of
    // the assertion's algorithm.
    let claims = key
        .and_then(VerificationKey::from_jwk)
        .filter(|key| key.verifies(header.alg))
        .and_then(|key| jsonwebtoken::decode::<Claims>(assertion, &key.key, &validation).ok())
        .map(|d| d.claims)
        .ok_or_else(|| invalid("client assertion signature, audience or time is invalid"))?;
    if claims.sub != client_id || claims.exp > clients.clock.now() + MAX_LIFETIME {
        return Err(invalid("client assertion lifetime or subject is not accepted").into());
    }
    // One atomic insert-if-absent: of a burst of copies of one assertion,
    // exactly one gets through.
    let seen = format!("client-assertion:{client_id}:{}", claims.jti);
    if !clients.storage.use_once(&seen, claims.exp + 60).await? {
        return Err(invalid("client assertion was already used").into());
    }
    Ok(client)
}

async fn client_keys(
    clients: &Clients,
    metadata: &ClientMetadata,
) -> Result<Arc<JwkSet>, ErrorResponse> {
    if let Some(jwks) = &metadata.jwks {
        let set: JwkSet = serde_json::from_value(jwks.clone())
            .map_err(|_| invalid("registered jwks is invalid"))?;
        check_key_count(&set).map_err(invalid)?;
        return Ok(Arc::new(set));
    }
    let uri = metadata
        .jwks_uri
        .as_deref()
        .ok_or_else(|| invalid("the client has no keys"))?;
    let url = url::Url::parse(uri).map_err(|_| invalid("jwks_uri is invalid"))?;
    let parse = |body: Vec<u8>| {
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|_| KeysUnavailable("not a JWK Set".into()))?;
        check_key_count(&set).map_err(KeysUnavailable)?;
        Ok((Arc::new(set), 2 * body.len()))
    };
    // The reason stays in the log: told to the caller, it would make the
    // token endpoint a probe of the server's network.
    clients.key_sets.get(&url, parse).await.map_err(|e| {
        tracing::info!(jwks_uri = ?uri, error = ?e.0, "client jwks_uri refused");
        invalid("the client's jwks_uri gave no usable keys")
    })
}
