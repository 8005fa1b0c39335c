//! Checks on JWS headers that jsonwebtoken does not make.

use base64ct::{Base64UrlUnpadded, Encoding};

/// Longest protected header read.
const MAX_HEADER: usize = 4096;

/// Whether a compact JWS declares critical header extensions (`crit`,
/// RFC 7515 §4.1.11). This server understands none, so such a token must
/// be refused; an unreadable header counts as critical too.
pub(crate) fn has_critical_extensions(jws: &str) -> bool {
    let Some(encoded) = jws.split('.').next() else {
        return true;
    };
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
mod tests {
    use super::*;

    fn jws(header: &str) -> String {
        format!(
            "{}.e30.sig",
            Base64UrlUnpadded::encode_string(header.as_bytes())
        )
    }

    #[test]
    fn crit_is_refused() {
        assert!(!has_critical_extensions(&jws(
            r#"{"alg":"ES256","kid":"k"}"#
        )));
        assert!(has_critical_extensions(&jws(
            r#"{"alg":"ES256","crit":["exp"],"exp":1}"#
        )));
        assert!(has_critical_extensions(&jws(
            r#"{"alg":"ES256","crit":[]}"#
        )));
        assert!(has_critical_extensions("!!!.e30.sig"));
        assert!(has_critical_extensions(&"a".repeat(5000)));
    }
}
