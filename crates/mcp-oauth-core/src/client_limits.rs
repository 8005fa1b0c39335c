//! How much a client may make a server keep: bounds on the metadata of a
//! dynamic registration (RFC 7591) or a Client ID Metadata Document, and
//! the members a server stores at all. Anyone can register or point at a
//! document, so what a client sends is bounded in count and size, and
//! members the server does not understand are dropped (RFC 7591 §2 lets
//! a server ignore them), so a stranger cannot make the server hold more
//! than a few kilobytes per client.
//!
//! ```
//! use mcp_oauth_core::registration::ClientMetadata;
//!
//! let sent: ClientMetadata = serde_json::from_str(
//!     r#"{"client_name": "Agent", "redirect_uris": ["http://127.0.0.1/cb"],
//!         "padding": [0, 0, 0, 0]}"#,
//! )?;
//! sent.check_limits().expect("small enough");
//! let kept = sent.without_unknown_members();
//! assert!(kept.extra.is_empty());
//! # Ok::<(), serde_json::Error>(())
//! ```

use crate::error::{ErrorCode, ErrorResponse};
use crate::registration::ClientMetadata;

/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 20;
/// Longest URI (redirect, client, logo, terms, policy, JWK Set) accepted.
pub const MAX_URI_LEN: usize = 2048;
/// Longest `client_name`, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most contacts, and the longest one.
pub const MAX_CONTACTS: usize = 10;
/// Longest contact, software id or software version.
pub const MAX_SHORT_FIELD: usize = 256;
/// Most keys in an inline JWK Set (a `private_key_jwt` client needs one or
/// two: the current key and the next).
pub const MAX_JWKS_KEYS: usize = 10;
/// Largest inline JWK Set, serialized.
pub const MAX_JWKS_BYTES: usize = 8 * 1024;

impl ClientMetadata {
    /// Checks the bounds above; the error is RFC 7591's
    /// `invalid_client_metadata` to send.
    pub fn check_limits(&self) -> Result<(), ErrorResponse> {
        let bad = |msg: String| {
            Err(ErrorResponse::new(ErrorCode::InvalidClientMetadata).with_description(msg))
        };
        if self.redirect_uris().len() > MAX_REDIRECT_URIS {
            return bad(format!("at most {MAX_REDIRECT_URIS} redirect URIs"));
        }
        let uris = self.redirect_uris().iter().map(String::as_str).chain(
            [
                &self.client_uri,
                &self.logo_uri,
                &self.tos_uri,
                &self.policy_uri,
                &self.jwks_uri,
            ]
            .into_iter()
            .flatten()
            .map(String::as_str),
        );
        if uris.into_iter().any(|u| u.len() > MAX_URI_LEN) {
            return bad(format!("a URI is longer than {MAX_URI_LEN} bytes"));
        }
        if self
            .client_name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
        {
            return bad(format!(
                "client_name is longer than {MAX_NAME_CHARS} characters"
            ));
        }
        let contacts = self.contacts.as_deref().unwrap_or_default();
        if contacts.len() > MAX_CONTACTS || contacts.iter().any(|c| c.len() > MAX_SHORT_FIELD) {
            return bad(format!(
                "at most {MAX_CONTACTS} contacts of {MAX_SHORT_FIELD} bytes"
            ));
        }
        if [&self.software_id, &self.software_version]
            .into_iter()
            .flatten()
            .any(|s| s.len() > MAX_SHORT_FIELD)
        {
            return bad(format!(
                "software_id and software_version are at most {MAX_SHORT_FIELD} bytes"
            ));
        }
        if let Some(jwks) = &self.jwks {
            let keys = jwks
                .get("keys")
                .and_then(|k| k.as_array())
                .map_or(0, Vec::len);
            if keys > MAX_JWKS_KEYS || jwks.to_string().len() > MAX_JWKS_BYTES {
                return bad(format!(
                    "jwks holds at most {MAX_JWKS_KEYS} keys in {MAX_JWKS_BYTES} bytes"
                ));
            }
        }
        Ok(())
    }

    /// The metadata a server keeps: members it does not understand, and
    /// the software statement it does not process, are dropped.
    pub fn without_unknown_members(mut self) -> Self {
        self.extra.clear();
        self.software_statement = None;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: serde_json::Value) -> ClientMetadata {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn bounds() {
        let ok = meta(json!({"client_name": "a", "redirect_uris": ["http://127.0.0.1/cb"]}));
        assert!(ok.check_limits().is_ok());
        let uris: Vec<String> = (0..21).map(|i| format!("http://127.0.0.1/{i}")).collect();
        assert!(meta(json!({"redirect_uris": uris})).check_limits().is_err());
        let long = format!("https://x.example/{}", "a".repeat(MAX_URI_LEN));
        assert!(meta(json!({"logo_uri": long})).check_limits().is_err());
        assert!(
            meta(json!({"client_name": "é".repeat(201)}))
                .check_limits()
                .is_err()
        );
        let contacts: Vec<String> = (0..11).map(|i| format!("a{i}@x.example")).collect();
        assert!(meta(json!({"contacts": contacts})).check_limits().is_err());
        let keys: Vec<serde_json::Value> =
            (0..11).map(|i| json!({"kty": "EC", "kid": i})).collect();
        assert!(
            meta(json!({"jwks": {"keys": keys}}))
                .check_limits()
                .is_err()
        );
        assert!(
            meta(json!({"jwks": {"keys": [{"kty": "EC", "x": "a".repeat(9000)}]}}))
                .check_limits()
                .is_err()
        );
        let kept =
            meta(json!({"client_name": "a", "pad": vec![0; 100], "software_statement": "x.y.z"}))
                .without_unknown_members();
        assert!(kept.extra.is_empty() && kept.software_statement.is_none());
        assert_eq!(kept.client_name.as_deref(), Some("a"));
    }
}
