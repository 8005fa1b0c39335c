//! JOSE rules shared by the authorization server, the verifier and the
//! client, kept in one place so that they cannot drift apart (enabled by the
//! `jose` feature; built on [`jsonwebtoken`]'s types, still without I/O):
//!
//! | item | what |
//! |---|---|
//! | [`ASYMMETRIC_ALGS`], [`is_asymmetric`] | the signature algorithms accepted on tokens and assertions |
//! | [`has_critical_extensions`] | the RFC 7515 `crit` refusal |
//! | [`algorithms_for`], [`is_for_verification`], [`VerificationKey`], [`verification_keys`] | which members of a JWK Set may verify which signatures |
//! | `encoding_key_from_pem`, `decoding_key_from_pem`, `PemKeyError` (feature `jose-pem`) | PEM keys read for a given algorithm |
//! | [`RefetchGate`], [`DEFAULT_REFETCH_INTERVAL`], [`DEFAULT_RETRY_INTERVAL`] | how often a key set may be fetched again |
//!
//! # Example: choosing the key for a token
//!
//! ```
//! use jsonwebtoken::Algorithm;
//! use mcp_oauth_core::jose::{has_critical_extensions, is_asymmetric, verification_keys};
//! use serde_json::json;
//!
//! let set = json!({"keys": [{
//!     "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
//!     "x": "8lZVm474RJPLRfENRwgmJBOrUBN_nXNDBGc9DEYFziI",
//!     "y": "iTqLMxPlcM4XwFPMN36XNIhC6wFTG0XvLdp8q_Gv5B0",
//! }]});
//! let keys = verification_keys(&set);
//!
//! // A token whose header is {"alg":"ES256","kid":"k1"}:
//! let token = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln";
//! assert!(!has_critical_extensions(token));
//! let header = jsonwebtoken::decode_header(token)?;
//! assert!(is_asymmetric(header.alg));
//! let key = keys.iter().find(|k| k.kid.as_deref() == header.kid.as_deref());
//! assert!(key.is_some_and(|k| k.verifies(Algorithm::ES256)));
//! # Ok::<(), jsonwebtoken::errors::Error>(())
//! ```

use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::Algorithm;

mod jwk;
#[cfg(feature = "jose-pem")]
mod pem;
mod refetch;

pub use jwk::{VerificationKey, algorithms_for, is_for_verification, verification_keys};
#[cfg(feature = "jose-pem")]
#[cfg_attr(docsrs, doc(cfg(feature = "jose-pem")))]
pub use pem::{PemKeyError, decoding_key_from_pem, encoding_key_from_pem};
pub use refetch::{DEFAULT_REFETCH_INTERVAL, DEFAULT_RETRY_INTERVAL, KeyState, RefetchGate};

/// The signature algorithms accepted on ID tokens, access tokens and client
/// assertions: asymmetric ones only. Never `none`, and never HMAC, whose
/// "key" is a shared secret (a client secret would then become a signing
/// key, and a public key could be mistaken for an HMAC secret).
///
/// The order is the one advertised in metadata (`…_signing_alg_values_supported`):
/// elliptic curves first, then RSA.
///
/// ```
/// use jsonwebtoken::Algorithm;
/// use mcp_oauth_core::jose::ASYMMETRIC_ALGS;
///
/// assert_eq!(ASYMMETRIC_ALGS.len(), 9);
/// assert_eq!(ASYMMETRIC_ALGS[0], Algorithm::ES256);
/// assert!(!ASYMMETRIC_ALGS.contains(&Algorithm::HS256));
/// ```
pub const ASYMMETRIC_ALGS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Whether `alg` is in [`ASYMMETRIC_ALGS`].
///
/// ```
/// use jsonwebtoken::Algorithm;
/// use mcp_oauth_core::jose::is_asymmetric;
///
/// assert!(is_asymmetric(Algorithm::EdDSA));
/// assert!(!is_asymmetric(Algorithm::HS512));
/// ```
pub fn is_asymmetric(alg: Algorithm) -> bool {
    ASYMMETRIC_ALGS.contains(&alg)
}

/// Longest protected header read, in base64url characters.
const MAX_HEADER: usize = 4096;

/// Whether a compact JWS declares critical header extensions (`crit`,
/// RFC 7515 §4.1.11). None of this workspace's parties understands any, so
/// a token that has one must be refused. In any form: an empty or `null`
/// `crit` counts too, and so does a header that cannot be read (not
/// base64url, not a JSON object, or longer than 4096 characters).
///
/// ```
/// use mcp_oauth_core::jose::has_critical_extensions;
///
/// // {"alg":"ES256"}
/// assert!(!has_critical_extensions("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"));
/// // {"alg":"ES256","crit":["b64"],"b64":false}
/// assert!(has_critical_extensions(
///     "eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYjY0Il0sImI2NCI6ZmFsc2V9.e30.c2ln"
/// ));
/// assert!(has_critical_extensions("not a token"));
/// ```
pub fn has_critical_extensions(jws: &str) -> bool {
    let encoded = jws.split('.').next().unwrap_or_default();
    if encoded.len() > MAX_HEADER {
        return true;
    }
    let Ok(raw) = Base64UrlUnpadded::decode_vec(encoded) else {
        return true;
    };
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&raw) {
        Ok(header) => header.contains_key("crit"),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests;
