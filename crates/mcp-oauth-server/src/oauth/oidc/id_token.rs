//! The ID token (OIDC Core 1.0 §2, §3.1.3.6): a JWT (`typ: JWT`) signed
//! with the server's active key (ES256 or EdDSA), issued beside the
//! access token when the person granted `openid`, for the client (`aud`
//! and `azp`) that asked.
//! It binds the access token it came with through `at_hash`, and the
//! authorization request through `nonce`.

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::Algorithm;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::token::TokenResponse;
use serde::Serialize;
use serde_json::Value;

use super::OPENID_SCOPE;
use super::claims::person_claims;
use crate::oauth::error::OAuthResult;
use crate::oauth::grants::GrantContext;

/// The JOSE `typ` of an ID token (OIDC Core 1.0 recommends `JWT`; it is
/// distinct from the access token's `at+jwt`, so neither is taken for the
/// other).
pub(crate) const ID_TOKEN_TYP: &str = "JWT";

/// The claims of an ID token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct IdTokenClaims {
    /// This server.
    pub(crate) iss: String,
    /// The person.
    pub(crate) sub: String,
    /// The client it is for.
    pub(crate) aud: String,
    /// Expiry (the access token's lifetime).
    pub(crate) exp: u64,
    /// Issued at.
    pub(crate) iat: u64,
    /// When the person authenticated.
    pub(crate) auth_time: u64,
    /// The authorization request's `nonce`, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<String>,
    /// The authorized party: the client, again (OIDC Core 1.0 §2).
    pub(crate) azp: String,
    /// The left half of the access token's hash ([`at_hash`]).
    pub(crate) at_hash: String,
    /// The `profile` and `email` claims granted and known.
    #[serde(flatten)]
    pub(crate) person: BTreeMap<String, Value>,
}

/// No `at_hash` is defined for a signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AtHashError {
    /// The algorithm names no hash this server knows how to pair with it.
    #[error("no at_hash hash is defined for the signing algorithm {0:?}")]
    UnsupportedAlgorithm(Algorithm),
}

/// `at_hash` (OIDC Core 1.0 §3.1.3.6): base64url, unpadded, of the left
/// half of the hash of the access token's ASCII octets, with the hash of
/// the ID token's signing algorithm: SHA-256 for `*256`, SHA-384 for
/// `*384`, SHA-512 for `*512` and for `EdDSA` (Ed25519 signs with
/// SHA-512, as OpenID Connect relying parties such as `openidconnect`
/// expect).
pub(crate) fn at_hash(alg: Algorithm, access_token: &str) -> Result<String, AtHashError> {
    let hash = match alg {
        Algorithm::ES256 | Algorithm::RS256 | Algorithm::PS256 | Algorithm::HS256 => {
            &digest::SHA256
        }
        Algorithm::ES384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::HS384 => {
            &digest::SHA384
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => {
            &digest::SHA512
        }
        other => return Err(AtHashError::UnsupportedAlgorithm(other)),
    };
    let full = digest::digest(hash, access_token.as_bytes());
    let bytes = full.as_ref();
    Ok(Base64UrlUnpadded::encode_string(&bytes[..bytes.len() / 2]))
}

/// What an ID token is issued for: the person, the client, what was
/// granted and, from the authorization request, the nonce.
pub(crate) struct IdTokenGrant<'a> {
    /// The person.
    pub(crate) subject: &'a str,
    /// The client.
    pub(crate) client_id: &'a str,
    /// The scope of the access token beside it.
    pub(crate) scope: &'a ScopeSet,
    /// When the person authenticated.
    pub(crate) auth_time: u64,
    /// The authorization request's nonce (none on refresh: OIDC Core 1.0
    /// §12.2 asks that it be left out).
    pub(crate) nonce: Option<&'a str>,
}

/// Adds an ID token to `response` when OpenID Connect is on and the grant
/// carries `openid`; does nothing otherwise.
pub(crate) async fn attach(
    state: &GrantContext<'_>,
    grant: IdTokenGrant<'_>,
    response: &mut TokenResponse,
    t: u64,
) -> OAuthResult<()> {
    if !state.config.oidc || !grant.scope.contains(OPENID_SCOPE) {
        return Ok(());
    }
    let person = person_claims(state.storage, grant.subject, grant.scope).await?;
    let sign_err = |e: &dyn std::fmt::Display| ErrorResponse::server_error(e.to_string());
    // at_hash depends on the algorithm of the key that signs; should the
    // active key change between reading its algorithm and signing (a
    // scheduled rotation to another algorithm), sign once more.
    let mut signed = None;
    for _ in 0..2 {
        let alg = state.keys.signing_alg().jwt();
        let claims = IdTokenClaims {
            iss: state.config.issuer.as_str().to_owned(),
            sub: grant.subject.to_owned(),
            aud: grant.client_id.to_owned(),
            exp: t + state.config.access_token_ttl.as_secs(),
            iat: t,
            auth_time: grant.auth_time,
            nonce: grant.nonce.map(str::to_owned),
            azp: grant.client_id.to_owned(),
            at_hash: at_hash(alg, response.access_token.secret()).map_err(|e| sign_err(&e))?,
            person: person.clone(),
        };
        let token = state
            .keys
            .sign_typed(&claims, ID_TOKEN_TYP)
            .map_err(|e| sign_err(&e))?;
        if jsonwebtoken::decode_header(&token).is_ok_and(|h| h.alg == alg) {
            signed = Some(token);
            break;
        }
    }
    let token = signed
        .ok_or_else(|| ErrorResponse::server_error("the signing key changed while signing"))?;
    response
        .extra
        .insert("id_token".to_owned(), Value::String(token));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenID Connect Core 1.0 Appendix A.3 (an RS256 ID token beside this
    /// access token): `at_hash` is `77QmUPtjPfzWtF2AnpK9RQ`; ES256 hashes
    /// with SHA-256 too.
    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(
            at_hash(Algorithm::RS256, token).unwrap(),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(
            at_hash(Algorithm::ES256, token).unwrap(),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    /// EdDSA (Ed25519) and the *512 algorithms take the left 32 bytes of
    /// SHA-512; the *384 ones the left 24 of SHA-384 (values computed
    /// independently with Python's hashlib).
    #[test]
    fn at_hash_follows_the_algorithm_hash() {
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        let sha512 = "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM";
        assert_eq!(at_hash(Algorithm::EdDSA, token).unwrap(), sha512);
        assert_eq!(
            at_hash(Algorithm::ES384, token).unwrap(),
            "jtAeDp945y1dDqU3nkIVGNZP1HjH_MFs"
        );
        assert_eq!(at_hash(Algorithm::RS512, token).unwrap(), sha512);
    }

    #[test]
    fn claims_serialise_flat_and_leave_out_an_absent_nonce() {
        let mut person = BTreeMap::new();
        person.insert("preferred_username".to_owned(), Value::from("alice"));
        let claims = IdTokenClaims {
            iss: "http://as.test".into(),
            sub: "alice".into(),
            aud: "c1".into(),
            exp: 2,
            iat: 1,
            auth_time: 1,
            nonce: None,
            azp: "c1".into(),
            at_hash: "h".into(),
            person,
        };
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["preferred_username"], "alice");
        assert!(json.get("nonce").is_none());
        assert_eq!(json["azp"], json["aud"]);
    }
}
