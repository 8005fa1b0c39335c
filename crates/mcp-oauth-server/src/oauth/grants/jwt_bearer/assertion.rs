//! Reading an ID-JAG and checking its signature, in this order: the JOSE
//! header (`typ`, `alg`, `crit`), the issuer (a trusted provider's, decided
//! before any key is fetched), then the signature with that provider's
//! keys. What needs no key beyond that is [`IdJagClaims::check`]'s.
//!
//! `typ` is compared ASCII-case-insensitively, and `application/` may
//! prefix it: RFC 7515 §4.1.9 makes `typ` a media type, and media types
//! compare case-insensitively (RFC 2045 §5.1), with the `application/`
//! prefix optional. Anything else, including no `typ`, is refused
//! (RFC 8725 §3.11 explicit typing: an ID token or access token from the
//! same provider is never mistaken for a grant).

use std::str::FromStr;

use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::{Algorithm, Validation};
use mcp_oauth_core::exchange::{ID_JAG_JWT_TYPE, IdJagClaims, IdJagError};
use mcp_oauth_core::jose::{has_critical_extensions, is_asymmetric};
use serde_json::{Map, Value};

use crate::federation::trusted_idp::{IdpKeyError, TrustedIdp, TrustedIdps};

/// Longest assertion read, in bytes.
const MAX_ASSERTION: usize = 16 * 1024;

/// A grant whose issuer is trusted and whose signature verified.
pub(super) struct Verified<'a> {
    /// Its provider.
    pub(super) idp: &'a TrustedIdp,
    /// Its claims.
    pub(super) claims: IdJagClaims,
}

/// Why an assertion was refused before its claims were checked; each
/// message is the `invalid_grant` description (except a key set that
/// could not be fetched, see [`IdpKeyError::Unavailable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(super) enum AssertionError {
    /// Not three base64url parts with a JSON header and payload, or too
    /// long.
    #[error("the assertion is not a signed JWT")]
    Malformed,
    /// The JOSE `typ` is not the ID-JAG's.
    #[error(transparent)]
    Type(IdJagError),
    /// `alg` is `none`.
    #[error("the assertion is unsigned (alg none)")]
    Unsigned,
    /// `alg` is symmetric or unknown.
    #[error("the assertion's algorithm {0} is not accepted: asymmetric signatures only")]
    Algorithm(String),
    /// The header has `crit`.
    #[error("the assertion declares critical header extensions (crit)")]
    Critical,
    /// No `iss` string.
    #[error("the assertion has no iss claim")]
    NoIssuer,
    /// `iss` is no trusted provider's issuer.
    #[error("the assertion's issuer is not a trusted identity provider")]
    UntrustedIssuer,
    /// No key of the provider fits.
    #[error(transparent)]
    Key(#[from] IdpKeyError),
    /// The signature does not verify.
    #[error("the assertion's signature does not verify with the identity provider's key")]
    Signature,
    /// A required claim is missing or mistyped.
    #[error("the assertion's claims are invalid: {0}")]
    Claims(String),
}

/// Reads `jwt`, finds its trusted provider and checks the signature.
pub(super) async fn verify<'a>(
    idps: &'a TrustedIdps,
    jwt: &str,
) -> Result<Verified<'a>, AssertionError> {
    if jwt.len() > MAX_ASSERTION || jwt.split('.').count() != 3 {
        return Err(AssertionError::Malformed);
    }
    let mut parts = jwt.split('.');
    let header = json_part(parts.next())?;
    let payload = json_part(parts.next())?;
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let typ = strip_prefix_ignore_case(typ, "application/").unwrap_or(typ);
    if !typ.eq_ignore_ascii_case(ID_JAG_JWT_TYPE) {
        return Err(AssertionError::Type(IdJagError::WrongType));
    }
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(AssertionError::Unsigned);
    }
    let alg = Algorithm::from_str(alg_name)
        .ok()
        .filter(|a| is_asymmetric(*a))
        .ok_or_else(|| AssertionError::Algorithm(printable(alg_name)))?;
    if has_critical_extensions(jwt) {
        return Err(AssertionError::Critical);
    }
    let iss = payload
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(AssertionError::NoIssuer)?;
    let idp = idps.by_issuer(iss).ok_or(AssertionError::UntrustedIssuer)?;
    let kid = header.get("kid").and_then(Value::as_str);
    let key = idp.key(kid, alg).await?;
    let mut validation = Validation::new(alg);
    // Times, audience and the rest are checked afterwards, each with its
    // own answer; here only the signature.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let raw = jsonwebtoken::decode::<Map<String, Value>>(jwt, &key, &validation)
        .map_err(|_| AssertionError::Signature)?
        .claims;
    let claims = serde_json::from_value::<IdJagClaims>(Value::Object(raw))
        .map_err(|e| AssertionError::Claims(cut(&e.to_string())))?;
    Ok(Verified { idp, claims })
}

/// A base64url part holding a JSON object.
fn json_part(part: Option<&str>) -> Result<Map<String, Value>, AssertionError> {
    let bytes = Base64UrlUnpadded::decode_vec(part.unwrap_or_default())
        .map_err(|_| AssertionError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AssertionError::Malformed)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &s[prefix.len()..])
}

/// An algorithm name as sent, cut to a short printable form.
fn printable(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(16)
        .collect();
    if kept.is_empty() {
        "(none given)".into()
    } else {
        kept
    }
}

/// A message cut to 200 characters.
fn cut(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SystemClock;

    fn jwt(header: Value, payload: Value) -> String {
        let enc = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
        format!("{}.{}.c2ln", enc(&header), enc(&payload))
    }

    async fn refusal(header: Value, payload: Value) -> AssertionError {
        let idps = TrustedIdps::new(&[], &[], Arc::new(SystemClock)).unwrap();
        match verify(&idps, &jwt(header, payload)).await {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        }
    }

    #[tokio::test]
    async fn the_header_is_checked_before_the_issuer() {
        let p = serde_json::json!({"iss": "https://idp.example"});
        let h = |typ: &str, alg: &str| serde_json::json!({"typ": typ, "alg": alg});
        assert_eq!(
            refusal(serde_json::json!({"alg": "ES256"}), p.clone()).await,
            AssertionError::Type(IdJagError::WrongType)
        );
        assert_eq!(
            refusal(h("JWT", "ES256"), p.clone()).await,
            AssertionError::Type(IdJagError::WrongType)
        );
        for typ in [
            "oauth-id-jag+jwt",
            "OAuth-ID-JAG+JWT",
            "application/oauth-id-jag+jwt",
        ] {
            assert_eq!(
                refusal(h(typ, "ES256"), p.clone()).await,
                AssertionError::UntrustedIssuer,
                "{typ} is the ID-JAG type"
            );
        }
        assert_eq!(
            refusal(h("oauth-id-jag+jwt", "none"), p.clone()).await,
            AssertionError::Unsigned
        );
        assert_eq!(
            refusal(h("oauth-id-jag+jwt", "HS256"), p.clone()).await,
            AssertionError::Algorithm("HS256".into())
        );
        let mut crit = h("oauth-id-jag+jwt", "ES256");
        crit["crit"] = serde_json::json!(["exp"]);
        assert_eq!(refusal(crit, p).await, AssertionError::Critical);
        assert_eq!(
            refusal(h("oauth-id-jag+jwt", "ES256"), serde_json::json!({})).await,
            AssertionError::NoIssuer
        );
        let idps = TrustedIdps::new(&[], &[], Arc::new(SystemClock)).unwrap();
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.c2ln"] {
            assert!(matches!(
                verify(&idps, bad).await,
                Err(AssertionError::Malformed)
            ));
        }
    }
}
