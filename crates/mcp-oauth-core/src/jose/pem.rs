//! PEM keys read for the algorithm they will be used with.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use super::is_asymmetric;

/// Why a PEM key could not be read for an algorithm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PemKeyError {
    /// The algorithm is not one of
    /// [`ASYMMETRIC_ALGS`](super::ASYMMETRIC_ALGS): PEM keys are public or
    /// private keys, never shared secrets.
    #[error("{0:?} is not an asymmetric signature algorithm")]
    NotAsymmetric(Algorithm),
    /// The PEM text is not a key of the family the algorithm needs.
    #[error("the PEM text is not a {family} key usable with {alg:?}")]
    Unreadable {
        /// The algorithm the key was read for.
        alg: Algorithm,
        /// The key family that algorithm needs (`EC`, `Ed25519`, `RSA`).
        family: &'static str,
        /// What the JOSE library reported.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

/// The key family of an asymmetric algorithm.
#[derive(Clone, Copy)]
enum Family {
    Ec,
    Ed,
    Rsa,
}

impl Family {
    fn of(alg: Algorithm) -> Result<Self, PemKeyError> {
        match alg {
            Algorithm::ES256 | Algorithm::ES384 => Ok(Self::Ec),
            Algorithm::EdDSA => Ok(Self::Ed),
            a if is_asymmetric(a) => Ok(Self::Rsa),
            a => Err(PemKeyError::NotAsymmetric(a)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Ec => "EC",
            Self::Ed => "Ed25519",
            Self::Rsa => "RSA",
        }
    }
}

fn unreadable(
    alg: Algorithm,
    family: Family,
) -> impl FnOnce(jsonwebtoken::errors::Error) -> PemKeyError {
    move |source| PemKeyError::Unreadable {
        alg,
        family: family.name(),
        source,
    }
}

/// A signing key for `alg` from a PEM private key (PKCS#8 `PRIVATE KEY`;
/// RSA keys may also be PKCS#1 `RSA PRIVATE KEY`).
///
/// ```
/// use jsonwebtoken::Algorithm;
/// use mcp_oauth_core::jose::{PemKeyError, encoding_key_from_pem};
///
/// // An Ed25519 key made for this example only.
/// let pem = "-----BEGIN PRIVATE KEY-----\n\
///            MC4CAQAwBQYDK2VwBCIEIBYazPfqJ1ob9Nq+Ah/DiuJGKBfe1VymeHbwWzZiOF3z\n\
///            -----END PRIVATE KEY-----\n";
/// assert!(encoding_key_from_pem(pem, Algorithm::EdDSA).is_ok());
/// assert!(matches!(
///     encoding_key_from_pem(pem, Algorithm::RS256),
///     Err(PemKeyError::Unreadable { .. })
/// ));
/// assert!(matches!(
///     encoding_key_from_pem(pem, Algorithm::HS256),
///     Err(PemKeyError::NotAsymmetric(Algorithm::HS256))
/// ));
/// ```
pub fn encoding_key_from_pem(pem: &str, alg: Algorithm) -> Result<EncodingKey, PemKeyError> {
    let family = Family::of(alg)?;
    let pem = pem.as_bytes();
    match family {
        Family::Ec => EncodingKey::from_ec_pem(pem),
        Family::Ed => EncodingKey::from_ed_pem(pem),
        Family::Rsa => EncodingKey::from_rsa_pem(pem),
    }
    .map_err(unreadable(alg, family))
}

/// A verification key for `alg` from a PEM public key (`PUBLIC KEY`, or a
/// certificate; RSA keys may also be PKCS#1 `RSA PUBLIC KEY`).
///
/// ```
/// use jsonwebtoken::Algorithm;
/// use mcp_oauth_core::jose::{PemKeyError, decoding_key_from_pem};
///
/// let pem = "-----BEGIN PUBLIC KEY-----\n\
///            MCowBQYDK2VwAyEA9Pkx1BWOyxR/GC5E9plmGFC1iDe7RAoNSI6DeoAfhkU=\n\
///            -----END PUBLIC KEY-----\n";
/// assert!(decoding_key_from_pem(pem, Algorithm::EdDSA).is_ok());
/// let Err(e) = decoding_key_from_pem(pem, Algorithm::ES256) else { unreachable!() };
/// assert!(std::error::Error::source(&e).is_some());
/// ```
pub fn decoding_key_from_pem(pem: &str, alg: Algorithm) -> Result<DecodingKey, PemKeyError> {
    let family = Family::of(alg)?;
    let pem = pem.as_bytes();
    match family {
        Family::Ec => DecodingKey::from_ec_pem(pem),
        Family::Ed => DecodingKey::from_ed_pem(pem),
        Family::Rsa => DecodingKey::from_rsa_pem(pem),
    }
    .map_err(unreadable(alg, family))
}
