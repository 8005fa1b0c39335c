//! PKCE, Proof Key for Code Exchange (RFC 7636), S256 only.
//!
//! OAuth 2.1 and the MCP authorization spec require `S256`; this module can
//! parse the method name `plain` (so a server can refuse it with a precise
//! error) but never produces it.
//!
//! ```
//! use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
//!
//! let verifier = PkceVerifier::generate()?;          // client keeps this secret
//! let challenge = PkceChallenge::s256(&verifier);     // sent in /authorize
//! assert_eq!(challenge.method().as_str(), "S256");
//! // At /token the server checks the verifier against the stored challenge:
//! challenge.verify(verifier.secret())?;
//! assert!(challenge.verify("a-verifier-that-does-not-match-the-challenge-at-all").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::{RandomnessError, constant_time_eq, random_base64url};

/// Shortest verifier RFC 7636 §4.1 allows.
pub const MIN_VERIFIER_LEN: usize = 43;
/// Longest verifier RFC 7636 §4.1 allows.
pub const MAX_VERIFIER_LEN: usize = 128;
/// Length of an S256 challenge: base64url of 32 bytes, unpadded.
pub const S256_CHALLENGE_LEN: usize = 43;

/// Why a PKCE value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkceError {
    /// The verifier is shorter than 43 or longer than 128 characters.
    #[error("code_verifier must be 43 to 128 characters long, got {0}")]
    VerifierLength(usize),
    /// The verifier holds a character outside `[A-Za-z0-9-._~]`.
    #[error("code_verifier may contain only unreserved characters [A-Za-z0-9-._~]")]
    VerifierCharset,
    /// The challenge is not 43 base64url characters.
    #[error("code_challenge must be 43 base64url characters (S256)")]
    ChallengeFormat,
    /// The challenge method is not `S256` (for example `plain`).
    #[error("code_challenge_method {0:?} is not supported; use S256")]
    UnsupportedMethod(String),
    /// The verifier does not hash to the challenge.
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
    /// Generation failed for lack of randomness.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
}

/// The `code_challenge_method`. Only `S256` exists here; `plain` is refused at
/// parse time with [`PkceError::UnsupportedMethod`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PkceMethod {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))`.
    #[default]
    S256,
}

impl PkceMethod {
    /// Parses a `code_challenge_method` value; anything but `S256` (exact
    /// case, as RFC 7636 §4.3 spells it) is refused.
    pub fn parse(value: &str) -> Result<Self, PkceError> {
        match value {
            "S256" => Ok(Self::S256),
            other => Err(PkceError::UnsupportedMethod(other.to_owned())),
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
        }
    }
}

impl fmt::Display for PkceMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `code_verifier`: 43 to 128 unreserved characters, secret to the client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PkceVerifier(crate::secret::Password);

impl PkceVerifier {
    /// A new verifier of 43 characters (256 bits of entropy) from the OS
    /// CSPRNG.
    pub fn generate() -> Result<Self, PkceError> {
        Ok(Self(random_base64url(32)?.into()))
    }

    /// A new verifier of `len` characters (43 to 128) from the OS CSPRNG.
    pub fn generate_with_len(len: usize) -> Result<Self, PkceError> {
        if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&len) {
            return Err(PkceError::VerifierLength(len));
        }
        // base64url of n bytes has ceil(4n/3) characters; draw enough, cut.
        let mut value = random_base64url(len.div_ceil(4) * 3)?;
        value.truncate(len);
        Ok(Self(value.into()))
    }

    /// Validates a verifier received at the token endpoint (RFC 7636 §4.1).
    pub fn parse(value: impl Into<String>) -> Result<Self, PkceError> {
        let value = value.into();
        validate_verifier(&value)?;
        Ok(Self(value.into()))
    }

    /// The raw verifier, for the token request.
    pub fn secret(&self) -> &str {
        self.0.secret()
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([redacted])")
    }
}

impl TryFrom<String> for PkceVerifier {
    type Error = PkceError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<PkceVerifier> for String {
    fn from(value: PkceVerifier) -> Self {
        value.0.into_secret()
    }
}

/// Checks the RFC 7636 §4.1 verifier grammar: `43*128unreserved`.
pub fn validate_verifier(value: &str) -> Result<(), PkceError> {
    let len = value.len();
    if !value.bytes().all(is_unreserved) {
        return Err(PkceError::VerifierCharset);
    }
    if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&len) {
        return Err(PkceError::VerifierLength(len));
    }
    Ok(())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// A `code_challenge` with its method. Deserializing validates it exactly as
/// [`PkceChallenge::parse`] does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawChallenge")]
pub struct PkceChallenge {
    #[serde(rename = "code_challenge")]
    value: String,
    #[serde(rename = "code_challenge_method")]
    method: PkceMethod,
}

impl PkceChallenge {
    /// Derives the S256 challenge of a verifier.
    pub fn s256(verifier: &PkceVerifier) -> Self {
        Self {
            value: s256_of(verifier.secret()),
            method: PkceMethod::S256,
        }
    }

    /// Validates a challenge received at the authorization endpoint.
    ///
    /// `method` is the raw `code_challenge_method`; when it is absent RFC 7636
    /// defaults to `plain`, which is refused here, as OAuth 2.1 requires.
    pub fn parse(value: &str, method: Option<&str>) -> Result<Self, PkceError> {
        let method = PkceMethod::parse(method.unwrap_or("plain"))?;
        if value.len() != S256_CHALLENGE_LEN
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(PkceError::ChallengeFormat);
        }
        Ok(Self {
            value: value.to_owned(),
            method,
        })
    }

    /// The challenge string.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The challenge method (always `S256`).
    pub fn method(&self) -> PkceMethod {
        self.method
    }

    /// Checks a `code_verifier` against this challenge: grammar first, then
    /// the hash, compared in constant time.
    pub fn verify(&self, verifier: &str) -> Result<(), PkceError> {
        validate_verifier(verifier)?;
        let computed = s256_of(verifier);
        if constant_time_eq(computed.as_bytes(), self.value.as_bytes()) {
            Ok(())
        } else {
            Err(PkceError::Mismatch)
        }
    }
}

#[derive(Deserialize)]
struct RawChallenge {
    code_challenge: String,
    code_challenge_method: Option<String>,
}

impl TryFrom<RawChallenge> for PkceChallenge {
    type Error = PkceError;
    fn try_from(raw: RawChallenge) -> Result<Self, Self::Error> {
        Self::parse(&raw.code_challenge, raw.code_challenge_method.as_deref())
    }
}

fn s256_of(verifier: &str) -> String {
    let digest = Sha256::digest(verifier.as_bytes());
    Base64UrlUnpadded::encode_string(digest.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = PkceVerifier::parse(RFC_VERIFIER).unwrap();
        let challenge = PkceChallenge::s256(&verifier);
        assert_eq!(challenge.as_str(), RFC_CHALLENGE);
        let parsed = PkceChallenge::parse(RFC_CHALLENGE, Some("S256")).unwrap();
        assert_eq!(parsed.verify(RFC_VERIFIER), Ok(()));
    }

    #[test]
    fn plain_and_missing_method_are_refused() {
        assert_eq!(
            PkceChallenge::parse(RFC_CHALLENGE, Some("plain")),
            Err(PkceError::UnsupportedMethod("plain".into()))
        );
        assert_eq!(
            PkceChallenge::parse(RFC_CHALLENGE, None),
            Err(PkceError::UnsupportedMethod("plain".into()))
        );
        assert!(PkceChallenge::parse(RFC_CHALLENGE, Some("s256")).is_err());
    }

    #[test]
    fn wrong_verifiers_are_refused() {
        let c = PkceChallenge::parse(RFC_CHALLENGE, Some("S256")).unwrap();
        let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK";
        assert_eq!(c.verify(wrong), Err(PkceError::Mismatch));
        assert_eq!(c.verify("short"), Err(PkceError::VerifierLength(5)));
        assert_eq!(
            c.verify(&"a".repeat(129)),
            Err(PkceError::VerifierLength(129))
        );
        let bad_char = format!("{}!", &RFC_VERIFIER[..43]);
        assert_eq!(c.verify(&bad_char), Err(PkceError::VerifierCharset));
        // The challenge itself is not a valid verifier for itself.
        assert_eq!(c.verify(RFC_CHALLENGE), Err(PkceError::Mismatch));
    }

    #[test]
    fn malformed_challenges_are_refused() {
        assert_eq!(
            PkceChallenge::parse("abc", Some("S256")),
            Err(PkceError::ChallengeFormat)
        );
        let with_pad = format!("{}=", &RFC_CHALLENGE[..42]);
        assert_eq!(
            PkceChallenge::parse(&with_pad, Some("S256")),
            Err(PkceError::ChallengeFormat)
        );
    }

    #[test]
    fn generated_verifiers_are_valid_and_fresh() {
        let a = PkceVerifier::generate().unwrap();
        let b = PkceVerifier::generate().unwrap();
        assert_eq!(a.secret().len(), 43);
        assert_ne!(a, b);
        for len in [43, 64, 100, 127, 128] {
            let v = PkceVerifier::generate_with_len(len).unwrap();
            assert_eq!(v.secret().len(), len);
            validate_verifier(v.secret()).unwrap();
            PkceChallenge::s256(&v).verify(v.secret()).unwrap();
        }
        assert!(PkceVerifier::generate_with_len(42).is_err());
        assert!(PkceVerifier::generate_with_len(129).is_err());
    }

    #[test]
    fn verifier_debug_is_redacted() {
        let v = PkceVerifier::parse(RFC_VERIFIER).unwrap();
        assert_eq!(format!("{v:?}"), "PkceVerifier([redacted])");
    }

    #[test]
    fn challenge_serializes_as_request_parameters() {
        let c = PkceChallenge::parse(RFC_CHALLENGE, Some("S256")).unwrap();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code_challenge": RFC_CHALLENGE, "code_challenge_method": "S256"})
        );
    }
}
