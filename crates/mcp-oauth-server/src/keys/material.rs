//! Key material: generating, parsing and using one signing key pair of
//! either algorithm the server signs with, and its public JWK.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::{Algorithm, DecodingKey};
use mcp_oauth_core::secret::token_hash;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The JWS algorithm the server signs tokens with.
///
/// ```
/// use mcp_oauth_server::keys::SigningAlgorithm;
///
/// let alg: SigningAlgorithm = "EdDSA".parse().unwrap();
/// assert_eq!(alg, SigningAlgorithm::EdDsa);
/// assert_eq!(alg.as_str(), "EdDSA");
/// assert_eq!(SigningAlgorithm::default().as_str(), "ES256");
/// assert!("HS256".parse::<SigningAlgorithm>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4), the default: every JOSE
    /// library verifies it.
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519 (RFC 8037): smaller and faster signatures, deterministic.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlgorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm as `jsonwebtoken` names it.
    pub fn jwt(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An algorithm name the server does not sign with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported signing algorithm {0:?}: use ES256 or EdDSA")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for SigningAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" | "es256" => Ok(Self::Es256),
            "EdDSA" | "eddsa" | "Ed25519" | "ed25519" => Ok(Self::EdDsa),
            other => Err(UnknownAlgorithm(other.to_owned())),
        }
    }
}

/// A private key pair, parsed once (parsing PKCS#8 per token would double
/// the cost of signing).
pub(super) enum KeyPair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A key pair could not be made or read.
#[derive(Debug, Clone, Copy)]
pub(super) struct BadKey;

impl KeyPair {
    /// A new key pair and its PKCS#8 document.
    pub(super) fn generate(alg: SigningAlgorithm) -> Result<(Vec<u8>, Self), BadKey> {
        let rng = SystemRandom::new();
        let der = match alg {
            SigningAlgorithm::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| BadKey)?
                    .as_ref()
                    .to_vec()
            }
            SigningAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| BadKey)?
                .as_ref()
                .to_vec(),
        };
        let pair = Self::from_pkcs8(alg, &der)?;
        Ok((der, pair))
    }

    /// Parses a PKCS#8 document of `alg`.
    pub(super) fn from_pkcs8(alg: SigningAlgorithm, der: &[u8]) -> Result<Self, BadKey> {
        match alg {
            SigningAlgorithm::Es256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map(Self::Ec)
                    .map_err(|_| BadKey)
            }
            SigningAlgorithm::EdDsa => Ed25519KeyPair::from_pkcs8(der)
                .map(Self::Ed)
                .map_err(|_| BadKey),
        }
    }

    /// The JWS signature over `message` (RFC 7518 §3.4 fixed `R || S` for
    /// ES256; RFC 8037 §3.1 for EdDSA).
    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, BadKey> {
        match self {
            Self::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| BadKey),
            Self::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    fn public_bytes(&self) -> &[u8] {
        match self {
            Self::Ec(pair) => pair.public_key().as_ref(),
            Self::Ed(pair) => pair.public_key().as_ref(),
        }
    }

    /// The key id: a digest of the public key, short but collision-safe for
    /// a JWKS.
    pub(super) fn kid(&self) -> String {
        token_hash(&Base64UrlUnpadded::encode_string(self.public_bytes()))[..16].to_owned()
    }

    /// The public JWK (RFC 7517/7518/8037) published under `kid`, and the
    /// key that verifies this pair's signatures.
    pub(super) fn public(&self, kid: &str) -> Result<(Value, DecodingKey), BadKey> {
        let point = self.public_bytes();
        match self {
            Self::Ec(_) => {
                // 0x04 || X (32) || Y (32)
                if point.len() != 65 {
                    return Err(BadKey);
                }
                let x = Base64UrlUnpadded::encode_string(&point[1..33]);
                let y = Base64UrlUnpadded::encode_string(&point[33..65]);
                let dk = DecodingKey::from_ec_components(&x, &y).map_err(|_| BadKey)?;
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y,
                    "kid": kid, "alg": "ES256", "use": "sig"});
                Ok((jwk, dk))
            }
            Self::Ed(_) => {
                if point.len() != 32 {
                    return Err(BadKey);
                }
                let x = Base64UrlUnpadded::encode_string(point);
                let dk = DecodingKey::from_ed_components(&x).map_err(|_| BadKey)?;
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x,
                    "kid": kid, "alg": "EdDSA", "use": "sig"});
                Ok((jwk, dk))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_algorithms_sign_what_their_public_key_verifies() {
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let (der, pair) = KeyPair::generate(alg).unwrap();
            let again = KeyPair::from_pkcs8(alg, &der).unwrap();
            assert_eq!(pair.kid(), again.kid());
            let (jwk, dk) = pair.public(&pair.kid()).unwrap();
            assert_eq!(jwk["alg"], alg.as_str());
            assert!(jwk.get("d").is_none(), "no private part is published");
            let sig = pair.sign(b"header.payload").unwrap();
            let sig = Base64UrlUnpadded::encode_string(&sig);
            assert!(jsonwebtoken::crypto::verify(&sig, b"header.payload", &dk, alg.jwt()).unwrap());
            assert!(!jsonwebtoken::crypto::verify(&sig, b"header.other", &dk, alg.jwt()).unwrap());
            // A document of one algorithm is not read as the other.
            let other = match alg {
                SigningAlgorithm::Es256 => SigningAlgorithm::EdDsa,
                SigningAlgorithm::EdDsa => SigningAlgorithm::Es256,
            };
            assert!(KeyPair::from_pkcs8(other, &der).is_err());
        }
    }
}
