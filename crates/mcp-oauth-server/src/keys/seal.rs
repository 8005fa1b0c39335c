//! Private signing keys encrypted at rest under a key-encryption key the
//! operator keeps outside the database (`MCP_OAUTH_KEY_ENCRYPTION_KEY`), so
//! a copied database file or backup cannot sign tokens.
//!
//! A sealed key is stored as `sealed.v1.` followed by base64url of a random
//! nonce and the ChaCha20-Poly1305 ciphertext of the PKCS#8 document (AEAD
//! from aws-lc-rs), with the key's `kid` as associated data, so a sealed key
//! cannot be moved under another `kid`.

use std::fmt;

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64ct::{Base64, Base64UrlUnpadded, Encoding};

const PREFIX: &str = "sealed.v1.";

/// The key that encrypts the private signing keys in storage: 32 random
/// bytes. `Debug` never shows it.
///
/// ```
/// use mcp_oauth_server::keys::KeyEncryptionKey;
///
/// // e.g. the output of `openssl rand -base64 32`
/// let kek = KeyEncryptionKey::from_base64("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=").unwrap();
/// assert_eq!(format!("{kek:?}"), "KeyEncryptionKey([redacted])");
/// assert!(KeyEncryptionKey::from_base64("too short").is_err());
/// ```
#[derive(Clone)]
pub struct KeyEncryptionKey([u8; 32]);

/// A key-encryption key that is not base64 of exactly 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the key-encryption key must be base64 of exactly 32 random bytes (openssl rand -base64 32)"
)]
pub struct BadKeyEncryptionKey;

impl KeyEncryptionKey {
    /// Reads base64 (standard, or URL-safe without padding) of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, BadKeyEncryptionKey> {
        let text = text.trim();
        let raw = Base64::decode_vec(text)
            .or_else(|_| Base64UrlUnpadded::decode_vec(text))
            .map_err(|_| BadKeyEncryptionKey)?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| BadKeyEncryptionKey)?;
        Ok(Self(bytes))
    }

    /// A key of its own for `purpose`, derived with HKDF-SHA256 (RFC 5869),
    /// so that one key-encryption key serves several ciphers without
    /// one's ciphertexts meeting another's key.
    pub(crate) fn derive(&self, purpose: &[u8]) -> Option<[u8; 32]> {
        use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
        let info = [purpose];
        let prk = Salt::new(HKDF_SHA256, b"mcp-oauth key-encryption key").extract(&self.0);
        let okm = prk.expand(&info, HKDF_SHA256).ok()?;
        let mut out = [0u8; 32];
        okm.fill(&mut out).ok()?;
        Some(out)
    }

    fn aead(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, &self.0)
            .ok()
            .map(LessSafeKey::new)
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

/// Whether a stored private key is sealed.
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// Seals a PKCS#8 document for storage under `kid`.
pub(super) fn seal(kek: &KeyEncryptionKey, kid: &str, der: &[u8]) -> Option<String> {
    let key = kek.aead()?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).ok()?;
    let mut data = der.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(kid.as_bytes()),
        &mut data,
    )
    .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Some(format!(
        "{PREFIX}{}",
        Base64UrlUnpadded::encode_string(&out)
    ))
}

/// Opens what [`seal`] produced for `kid`; `None` for another key, another
/// `kid` or a damaged value.
pub(super) fn open(kek: &KeyEncryptionKey, kid: &str, stored: &str) -> Option<Vec<u8>> {
    let raw = Base64UrlUnpadded::decode_vec(stored.strip_prefix(PREFIX)?).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = kek
        .aead()?
        .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut data)
        .ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey([byte; 32])
    }

    #[test]
    fn only_the_same_key_and_kid_open_a_sealed_key() {
        let sealed = seal(&kek(1), "kid-a", b"pkcs8 document").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("pkcs8"));
        assert_eq!(
            open(&kek(1), "kid-a", &sealed).as_deref(),
            Some(&b"pkcs8 document"[..])
        );
        assert_eq!(open(&kek(2), "kid-a", &sealed), None, "another key");
        assert_eq!(open(&kek(1), "kid-b", &sealed), None, "another kid");
        assert_eq!(open(&kek(1), "kid-a", "sealed.v1.AAAA"), None);
        assert_eq!(open(&kek(1), "kid-a", "plain"), None);
        assert_ne!(sealed, seal(&kek(1), "kid-a", b"pkcs8 document").unwrap());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_key() {
        let a = kek(1).derive(b"one").unwrap();
        assert_eq!(a, kek(1).derive(b"one").unwrap());
        assert_ne!(a, kek(1).derive(b"two").unwrap());
        assert_ne!(a, kek(2).derive(b"one").unwrap());
        assert_ne!(a, [1u8; 32]);
    }

    #[test]
    fn key_encryption_keys_are_32_bytes_of_base64() {
        let b64 = Base64::encode_string(&[7u8; 32]);
        assert!(KeyEncryptionKey::from_base64(&b64).is_ok());
        let url = Base64UrlUnpadded::encode_string(&[7u8; 32]);
        assert!(KeyEncryptionKey::from_base64(&url).is_ok());
        let short = Base64::encode_string(&[7u8; 31]);
        assert_eq!(
            KeyEncryptionKey::from_base64(&short).unwrap_err(),
            BadKeyEncryptionKey
        );
    }
}
