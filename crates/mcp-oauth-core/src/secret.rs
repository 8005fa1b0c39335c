//! Secret newtypes.
//!
//! Every credential that crosses this crate is wrapped in a type that
//!
//! - prints `Name([redacted])` under `Debug`, so a secret never reaches a log
//!   through `{:?}`;
//! - compares in constant time (for equal lengths) through `PartialEq`;
//! - wipes its memory when dropped;
//! - serializes as the bare string, so it can sit in wire types directly.
//!
//! The value is reachable only through the explicitly named
//! [`secret()`](ClientSecret::secret) accessor, which makes every place that
//! handles the raw value easy to find in review.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// The system's CSPRNG could not produce random bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomnessError(String);

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), RandomnessError> {
    getrandom::fill(buf).map_err(|e| RandomnessError(e.to_string()))
}

/// Returns `bytes` random bytes from the OS CSPRNG, base64url-encoded without
/// padding (so 32 bytes, 256 bits, give 43 characters).
pub fn random_base64url(bytes: usize) -> Result<String, RandomnessError> {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf)?;
    let encoded = Base64UrlUnpadded::encode_string(&buf);
    buf.zeroize();
    Ok(encoded)
}

/// SHA-256 of a credential, base64url-encoded: the form in which opaque
/// tokens, codes and refresh tokens are stored and used as cache keys, so a
/// leaked database or cache holds nothing presentable.
///
/// Plain SHA-256 fits here because the inputs carry 256 bits of entropy;
/// passwords, which do not, are hashed with a slow KDF instead.
pub fn token_hash(value: &str) -> String {
    use sha2::{Digest, Sha256};
    Base64UrlUnpadded::encode_string(Sha256::digest(value.as_bytes()).as_slice())
}

/// Compares two byte strings in constant time with respect to their content.
///
/// Lengths are compared first (and leak), which is fine for the credentials
/// handled here: their length is public by construction.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            /// Wraps a raw value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The raw value. Handle with care: never log it.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Consumes the wrapper and returns the raw value.
            pub fn into_secret(mut self) -> String {
                std::mem::take(&mut self.0)
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        impl Drop for $name {
            fn drop(&mut self) {
                self.0.zeroize();
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self)
            }
        }
    };
}

secret_type!(
    /// A client secret (RFC 6749 §2.3.1), shown to a confidential client once
    /// at registration.
    ClientSecret
);
secret_type!(
    /// An access token as the client holds it (opaque to the client; a JWT
    /// when issued by `mcp-oauth-server`).
    AccessToken
);
secret_type!(
    /// A refresh token (RFC 6749 §1.5).
    RefreshToken
);
secret_type!(
    /// An authorization code (RFC 6749 §1.3.1).
    AuthorizationCode
);
secret_type!(
    /// A user's password, as typed at a login form or sent by a headless
    /// agent.
    Password
);
secret_type!(
    /// A registration or initial access token (RFC 7591 §3).
    RegistrationAccessToken
);
secret_type!(
    /// A device code (RFC 8628 §3.2): what a device polls the token
    /// endpoint with.
    DeviceCode
);
secret_type!(
    /// A security token presented to the token endpoint: an RFC 7523
    /// `assertion`, or an RFC 8693 `subject_token` / `actor_token`.
    SecurityToken
);

macro_rules! generated_secret {
    ($name:ident) => {
        impl $name {
            /// A fresh value of 256 bits from the OS CSPRNG, base64url-encoded
            /// (43 characters).
            pub fn generate() -> Result<Self, RandomnessError> {
                random_base64url(32).map(Self)
            }
        }
    };
}

generated_secret!(ClientSecret);
generated_secret!(AccessToken);
generated_secret!(RefreshToken);
generated_secret!(AuthorizationCode);
generated_secret!(RegistrationAccessToken);
generated_secret!(DeviceCode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_value() {
        let s = ClientSecret::new("hunter2-very-secret");
        let printed = format!("{s:?}");
        assert_eq!(printed, "ClientSecret([redacted])");
        assert!(!printed.contains("hunter2"));
        let p = Password::new("pw");
        assert_eq!(format!("{p:?}"), "Password([redacted])");
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(RefreshToken::new("abc"), RefreshToken::new("abc"));
        assert_ne!(RefreshToken::new("abc"), RefreshToken::new("abd"));
        assert_ne!(RefreshToken::new("abc"), RefreshToken::new("abcd"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b""));
    }

    #[test]
    fn generated_values_are_256_bit_and_distinct() {
        let a = RefreshToken::generate().unwrap();
        let b = RefreshToken::generate().unwrap();
        assert_eq!(a.secret().len(), 43);
        assert_ne!(a, b);
        assert!(
            a.secret()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn token_hash_is_sha256_base64url() {
        // SHA-256("abc") = ba7816bf...15ad (FIPS 180-2 test vector).
        assert_eq!(
            token_hash("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert_ne!(token_hash("abc"), token_hash("abd"));
    }

    #[test]
    fn serde_is_transparent() {
        let s = AccessToken::new("tok");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"tok\"");
        let back: AccessToken = serde_json::from_str("\"tok\"").unwrap();
        assert_eq!(back, s);
        assert_eq!(back.into_secret(), "tok");
    }
}
