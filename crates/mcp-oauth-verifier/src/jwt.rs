//! Local verification of JWT access tokens (RFC 9068): the protected
//! header is checked first (no `crit`, `typ: at+jwt`), the `iss` picks the
//! trusted issuer whose keys (and only whose keys) may verify the
//! signature, then time (`exp`, `nbf`, `iat`, a maximum lifetime), issuer
//! and audience. `none` is never accepted, nor HMAC without a configured
//! shared key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use mcp_oauth_core::jose::has_critical_extensions;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use serde_json::Value;

use crate::claims::{Claims, Rejection};
use crate::jwks::{FetchContext, KeySource};

/// Longest protected header accepted, in base64url characters.
const MAX_HEADER_LEN: usize = 4 * 1024;
/// Longest payload read before the signature is checked (to find `iss`).
const MAX_PAYLOAD_LEN: usize = 64 * 1024;

fn invalid(m: &str) -> Rejection {
    Rejection::InvalidToken(m.to_owned())
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Whether a token of this `typ` may be taken for an access token. RFC 9068
/// tokens say `at+jwt`; with `allow_untyped`, a missing `typ` or the generic
/// `JWT` (what older servers emit) passes too, but never another explicit
/// type: ID tokens, logout tokens, our own session tokens and the like stay
/// refused.
pub(crate) fn typ_accepted(typ: Option<&str>, allow_untyped: bool) -> bool {
    let Some(typ) = typ else {
        return allow_untyped;
    };
    // RFC 7515 §4.1.9: the "application/" prefix may be left out.
    let media = typ
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    if media.eq_ignore_ascii_case("at+jwt") {
        return true;
    }
    allow_untyped && media.eq_ignore_ascii_case("jwt")
}

/// Decodes one base64url segment of at most `max` characters as JSON.
fn segment_json<T: serde::de::DeserializeOwned>(segment: &str, max: usize) -> Option<T> {
    if segment.len() > max {
        return None;
    }
    let bytes = Base64UrlUnpadded::decode_vec(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The protected header, refused when it is malformed or carries `crit`:
/// this verifier understands no JWS extension, and RFC 7515 §4.1.11 says a
/// recipient must then reject the token (an empty or null `crit` is no
/// better).
pub(crate) fn protected_header(token: &str) -> Result<Header, Rejection> {
    let first = token.split('.').next().unwrap_or_default();
    segment_json::<serde_json::Map<String, Value>>(first, MAX_HEADER_LEN)
        .ok_or_else(|| invalid("malformed token"))?;
    // The header reads as JSON: what is left to refuse is a `crit`.
    if has_critical_extensions(token) {
        return Err(invalid(
            "token requires header extensions (crit) this resource does not understand",
        ));
    }
    jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))
}

/// The `iss` the payload claims, read before the signature is checked only
/// to choose whose keys to check it with; verification then demands it.
fn claimed_issuer(token: &str) -> Result<String, Rejection> {
    #[derive(serde::Deserialize)]
    struct Peek {
        iss: Option<String>,
    }
    let payload = token.split('.').nth(1).unwrap_or_default();
    let peek: Peek =
        segment_json(payload, MAX_PAYLOAD_LEN).ok_or_else(|| invalid("malformed token"))?;
    peek.iss
        .ok_or_else(|| invalid("token from an issuer this resource does not trust"))
}

/// A NumericDate claim (RFC 7519 §2): a non-negative number, fractions
/// allowed (and cut); absent is `None`, anything else refused.
fn numeric_date(raw: &BTreeMap<String, Value>, name: &str) -> Result<Option<u64>, Rejection> {
    match raw.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) => Ok(Some(v)),
            None => match n.as_f64() {
                Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
                _ => Err(invalid("malformed time claim")),
            },
        },
        Some(_) => Err(invalid("malformed time claim")),
    }
}

/// `iat` not in the future (beyond the leeway), and a lifetime (`exp` −
/// `iat`, or `exp` − now without `iat`) of at most `max_lifetime`.
fn check_times(
    raw: &BTreeMap<String, Value>,
    now: u64,
    leeway: u64,
    max_lifetime: Duration,
) -> Result<(), Rejection> {
    let iat = numeric_date(raw, "iat")?;
    let exp = numeric_date(raw, "exp")?.ok_or_else(|| invalid("token has no expiry"))?;
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(invalid("token issued in the future"));
    }
    let lifetime = exp.saturating_sub(iat.unwrap_or(now));
    if lifetime > max_lifetime.as_secs() {
        return Err(invalid("token lifetime longer than this resource accepts"));
    }
    Ok(())
}

/// JWT verification state: one key source per trusted issuer.
pub(crate) struct JwtVerifier {
    sources: Vec<Arc<KeySource>>,
    /// An HMAC key, which belongs to the single issuer (see the builder).
    shared: Option<(DecodingKey, Algorithm)>,
    allow_untyped: bool,
    max_lifetime: Duration,
}

impl JwtVerifier {
    pub(crate) fn new(
        sources: Vec<Arc<KeySource>>,
        shared: Option<(Vec<u8>, Algorithm)>,
        allow_untyped: bool,
        max_lifetime: Duration,
    ) -> Self {
        Self {
            sources,
            shared: shared.map(|(k, a)| (DecodingKey::from_secret(&k), a)),
            allow_untyped,
            max_lifetime,
        }
    }

    /// Verifies header, signature, issuer, time and audience.
    pub(crate) async fn verify(
        &self,
        token: &str,
        ctx: &FetchContext,
        resource: &ResourceUri,
        leeway: u64,
        now: u64,
    ) -> Result<Claims, Rejection> {
        let header = protected_header(token)?;
        if !typ_accepted(header.typ.as_deref(), self.allow_untyped) {
            return Err(invalid("not an access token (typ must be at+jwt)"));
        }
        let issuer = claimed_issuer(token)?;
        let source = self
            .sources
            .iter()
            .find(|s| s.issuer() == issuer)
            .ok_or_else(|| invalid("token from an issuer this resource does not trust"))?;
        let fetched;
        let key = if is_hmac(header.alg) {
            match &self.shared {
                Some((k, a)) if *a == header.alg => k,
                _ => return Err(invalid("signing algorithm not accepted")),
            }
        } else {
            fetched = source.key(header.kid.as_deref(), ctx).await?;
            if !fetched.verifies(header.alg) {
                return Err(invalid("signing algorithm does not match the key"));
            }
            &fetched.key
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = leeway;
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.set_issuer(&[source.issuer()]);
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
        check_times(&data.claims, now, leeway, self.max_lifetime)?;
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
        expires_at: numeric_date(&raw, "exp").ok().flatten().unwrap_or(0),
        raw,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(v: &Value) -> String {
        Base64UrlUnpadded::encode_string(v.to_string().as_bytes())
    }

    #[test]
    fn untyped_tokens_mean_no_typ_or_jwt_only() {
        for t in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            assert!(typ_accepted(Some(t), false), "{t}");
        }
        assert!(!typ_accepted(None, false));
        assert!(!typ_accepted(Some("JWT"), false));
        assert!(typ_accepted(None, true));
        for t in ["JWT", "jwt", "application/jwt"] {
            assert!(typ_accepted(Some(t), true), "{t}");
        }
        for t in [
            "mcp-oauth-session+jwt",
            "id_token+jwt",
            "logout+jwt",
            "dpop+jwt",
            "secevent+jwt",
            "",
            "at+jwt ",
            "application/",
        ] {
            assert!(!typ_accepted(Some(t), true), "{t:?}");
        }
    }

    #[test]
    fn a_crit_header_is_refused_in_any_form() {
        for header in [
            json!({"alg": "ES256", "typ": "at+jwt", "crit": ["exp"], "exp": 1}),
            json!({"alg": "ES256", "typ": "at+jwt", "crit": []}),
            json!({"alg": "ES256", "typ": "at+jwt", "crit": null}),
            json!({"alg": "ES256", "typ": "at+jwt", "crit": "b64", "b64": false}),
        ] {
            let token = format!("{}.{}.sig", b64(&header), b64(&json!({})));
            assert_eq!(
                protected_header(&token).unwrap_err().status(),
                401,
                "{header}"
            );
        }
        let plain = format!(
            "{}.{}.sig",
            b64(&json!({"alg": "ES256", "typ": "at+jwt"})),
            b64(&json!({}))
        );
        assert_eq!(protected_header(&plain).unwrap().alg, Algorithm::ES256);
    }

    #[test]
    fn an_oversized_header_is_refused_before_decoding() {
        let header = json!({"alg": "ES256", "pad": "x".repeat(MAX_HEADER_LEN)});
        let token = format!("{}.e30.sig", b64(&header));
        assert!(protected_header(&token).is_err());
    }

    #[test]
    fn time_claims_bound_issue_time_and_lifetime() {
        let now = 1_000_000;
        let day = Duration::from_secs(86_400);
        let ok = |c: Value| {
            let raw: BTreeMap<String, Value> = serde_json::from_value(c).unwrap();
            check_times(&raw, now, 60, day)
        };
        assert!(ok(json!({"iat": now, "exp": now + 300})).is_ok());
        assert!(ok(json!({"iat": now + 60, "exp": now + 300})).is_ok());
        assert!(ok(json!({"iat": now as f64 + 0.5, "exp": now + 300})).is_ok());
        assert!(ok(json!({"exp": now + 86_400})).is_ok());
        assert!(ok(json!({"iat": now + 61, "exp": now + 300})).is_err());
        assert!(ok(json!({"iat": now, "exp": now + 86_401})).is_err());
        assert!(ok(json!({"exp": now + 86_401})).is_err());
        assert!(ok(json!({"iat": 0, "exp": now + 10})).is_err());
        assert!(ok(json!({"iat": "now", "exp": now + 10})).is_err());
        assert!(ok(json!({"iat": -1, "exp": now + 10})).is_err());
        assert!(ok(json!({"iat": now})).is_err());
    }
}
