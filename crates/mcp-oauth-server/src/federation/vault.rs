//! A person's upstream tokens, sealed for storage: XChaCha20-Poly1305
//! under a key derived from the operator's key-encryption key
//! (`MCP_OAUTH_KEY_ENCRYPTION_KEY`), with the subject and provider as
//! associated data, so a copied database cannot call anyone's upstream and
//! a sealed value moved to another person's or provider's row does not
//! open.
//!
//! Stored form: `xc20p.v1.` and base64url of the random 24-byte nonce and
//! the ciphertext of the JSON token set.

use base64ct::{Base64UrlUnpadded, Encoding};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use mcp_oauth_core::secret::SecurityToken;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::keys::KeyEncryptionKey;

const PREFIX: &str = "xc20p.v1.";
/// The HKDF purpose of the vault's key.
const PURPOSE: &[u8] = b"mcp-oauth upstream token vault v1";
/// How many bytes of nonce XChaCha20 takes.
const NONCE_LEN: usize = 24;

/// A person's tokens at an upstream provider. `Debug` shows no token.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct UpstreamTokens {
    /// The upstream access token.
    pub(crate) access_token: SecurityToken,
    /// The upstream refresh token, if the provider issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<SecurityToken>,
    /// When the access token expires (seconds since the epoch; `None`:
    /// the provider did not say, as GitHub OAuth apps' tokens that do not
    /// expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<u64>,
    /// The scope the provider granted, if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
}

impl std::fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTokens")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

impl UpstreamTokens {
    /// The tokens of a token endpoint response received at `now`; `None`
    /// without a usable `access_token`. A refresh response without a
    /// `refresh_token` keeps `previous` (RFC 6749 §6: the provider may
    /// keep the old one valid).
    pub(crate) fn from_response(
        body: &Map<String, Value>,
        now: u64,
        previous: Option<&SecurityToken>,
    ) -> Option<Self> {
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let access_token = SecurityToken::new(text("access_token")?);
        let expires_in = match body.get("expires_in") {
            Some(Value::Number(n)) => n.as_u64(),
            // Some providers send it as a string.
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        Some(Self {
            access_token,
            refresh_token: text("refresh_token")
                .map(SecurityToken::new)
                .or_else(|| previous.cloned()),
            expires_at: expires_in.map(|s| now.saturating_add(s)),
            scope: text("scope").map(str::to_owned),
        })
    }

    /// Whether the access token is expired at `now`, or will be within
    /// `margin` seconds.
    pub(crate) fn expires_within(&self, now: u64, margin: u64) -> bool {
        self.expires_at
            .is_some_and(|t| t <= now.saturating_add(margin))
    }
}

/// Seals and opens upstream tokens with the vault's key.
pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
}

/// The associated data: the row a sealed value belongs to, unambiguously
/// (the subject's length first).
fn aad(subject: &str, provider: &str) -> Vec<u8> {
    let mut out = PURPOSE.to_vec();
    out.push(0);
    out.extend_from_slice(&(subject.len() as u64).to_be_bytes());
    out.extend_from_slice(subject.as_bytes());
    out.extend_from_slice(provider.as_bytes());
    out
}

impl Sealer {
    /// The sealer of this key-encryption key.
    pub(crate) fn new(kek: &KeyEncryptionKey) -> Option<Self> {
        let key = kek.derive(PURPOSE)?;
        Some(Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        })
    }

    /// Seals `tokens` for the row of (`subject`, `provider`).
    pub(crate) fn seal(
        &self,
        subject: &str,
        provider: &str,
        tokens: &UpstreamTokens,
    ) -> Option<String> {
        let plain = Zeroizing::new(serde_json::to_vec(tokens).ok()?);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = aad(subject, provider);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Some(format!(
            "{PREFIX}{}",
            Base64UrlUnpadded::encode_string(&out)
        ))
    }

    /// Opens what [`Sealer::seal`] made for the same row; `None` for another
    /// row, another key, or a damaged value.
    pub(crate) fn open(
        &self,
        subject: &str,
        provider: &str,
        sealed: &str,
    ) -> Option<UpstreamTokens> {
        let raw = Base64UrlUnpadded::decode_vec(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let aad = aad(subject, provider);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: data,
                    aad: &aad,
                },
            )
            .ok()?;
        let plain = Zeroizing::new(plain);
        serde_json::from_slice(&plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        let b64 = base64ct::Base64::encode_string(&[byte; 32]);
        Sealer::new(&KeyEncryptionKey::from_base64(&b64).unwrap()).unwrap()
    }

    fn tokens() -> UpstreamTokens {
        UpstreamTokens {
            access_token: SecurityToken::new("gho_plaintext-access"),
            refresh_token: Some(SecurityToken::new("ghr_plaintext-refresh")),
            expires_at: Some(1_000),
            scope: Some("read:user".into()),
        }
    }

    #[test]
    fn only_the_same_key_and_row_open_sealed_tokens() {
        let s = sealer(1);
        let sealed = s.seal("gh:1", "gh", &tokens()).unwrap();
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("plaintext"));
        let opened = s.open("gh:1", "gh", &sealed).unwrap();
        assert_eq!(opened.access_token.secret(), "gho_plaintext-access");
        assert_eq!(
            opened.refresh_token.as_ref().map(SecurityToken::secret),
            Some("ghr_plaintext-refresh")
        );
        assert_eq!(opened.expires_at, Some(1_000));
        assert!(s.open("gh:2", "gh", &sealed).is_none(), "another person");
        assert!(
            s.open("gh:1", "google", &sealed).is_none(),
            "another provider"
        );
        assert!(
            s.open("gh:1g", "h", &sealed).is_none(),
            "the boundary moved"
        );
        assert!(
            sealer(2).open("gh:1", "gh", &sealed).is_none(),
            "another key"
        );
        assert!(s.open("gh:1", "gh", "xc20p.v1.AAAA").is_none());
        assert!(s.open("gh:1", "gh", "plain").is_none());
        assert_ne!(sealed, s.seal("gh:1", "gh", &tokens()).unwrap());
    }

    #[test]
    fn debug_shows_no_token() {
        let printed = format!("{:?}", tokens());
        assert!(!printed.contains("plaintext"), "{printed}");
    }

    #[test]
    fn token_responses_are_read() {
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"access_token":"a","expires_in":"60","scope":"repo","token_type":"bearer"}"#,
        )
        .unwrap();
        let old = SecurityToken::new("r-old");
        let t = UpstreamTokens::from_response(&body, 100, Some(&old)).unwrap();
        assert_eq!(t.expires_at, Some(160));
        assert_eq!(t.refresh_token.unwrap().secret(), "r-old");
        assert!(t.expires_at.is_some());
        let empty: Map<String, Value> = serde_json::from_str(r#"{"access_token":""}"#).unwrap();
        assert!(UpstreamTokens::from_response(&empty, 0, None).is_none());
        let forever: Map<String, Value> =
            serde_json::from_str(r#"{"access_token":"gho_x"}"#).unwrap();
        let t = UpstreamTokens::from_response(&forever, 0, None).unwrap();
        assert!(
            !t.expires_within(u64::MAX / 2, 60),
            "no expiry: never expired"
        );
    }
}
