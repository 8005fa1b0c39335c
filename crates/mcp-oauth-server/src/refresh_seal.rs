//! Sealing a refresh token's successor with the token it replaces.
//!
//! When a refresh token is rotated, its successor is stored (encrypted) on
//! the spent token's row, under a key derived (HKDF-SHA256) from the spent
//! token itself, which the server keeps only as a hash. A client that
//! retries a refresh within the grace window presents the spent token
//! again and receives that same successor: the chain never forks, and a
//! thief who replays a stolen token gets the very token the client holds,
//! so whichever of them uses it second is detected as reuse. Neither the
//! database nor its backups can open a sealed successor without the spent
//! token.
//!
//! The AEAD is ChaCha20-Poly1305 from aws-lc-rs, with a random nonce; each
//! key seals exactly one message.

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64ct::{Base64UrlUnpadded, Encoding};

const SALT: &[u8] = b"mcp-oauth";
const INFO: &[u8] = b"mcp-oauth refresh-token successor v1";

fn key(presented: &str) -> Option<LessSafeKey> {
    let prk = Salt::new(HKDF_SHA256, SALT).extract(presented.as_bytes());
    let okm = prk.expand(&[INFO], &CHACHA20_POLY1305).ok()?;
    Some(LessSafeKey::new(UnboundKey::from(okm)))
}

/// Encrypts `successor` under a key only `presented` yields.
pub(crate) fn seal(successor: &str, presented: &str) -> Option<String> {
    let key = key(presented)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).ok()?;
    let mut data = successor.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Some(Base64UrlUnpadded::encode_string(&out))
}

/// Decrypts what [`seal`] produced for `presented`; `None` for anything
/// else (another token, a tampered or empty value).
pub(crate) fn open(sealed: &str, presented: &str) -> Option<String> {
    let raw = Base64UrlUnpadded::decode_vec(sealed).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = key(presented)?
        .open_in_place(nonce, Aad::empty(), &mut data)
        .ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spent_token_opens_its_successor() {
        let sealed = seal("successor-token", "spent-token").unwrap();
        assert_eq!(
            open(&sealed, "spent-token").as_deref(),
            Some("successor-token")
        );
        assert_eq!(open(&sealed, "another-token"), None);
        assert_eq!(open("", "spent-token"), None);
        let mut tampered = Base64UrlUnpadded::decode_vec(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            open(&Base64UrlUnpadded::encode_string(&tampered), "spent-token"),
            None
        );
        assert_ne!(sealed, seal("successor-token", "spent-token").unwrap());
    }
}
