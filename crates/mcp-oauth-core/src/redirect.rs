//! Redirect URI rules (OAuth 2.1 §2.3.1 and §4.1.3, RFC 8252 §7).
//!
//! Allowed: `https` URIs; `http` only on a loopback host (`127.0.0.1`,
//! `[::1]`, `localhost`) for native apps; private-use schemes in
//! reverse-domain form (`com.example.app:/callback`). Never a fragment,
//! userinfo or wildcard. Matching is exact string comparison, except that a
//! loopback redirect may use any port (RFC 8252 §7.3).
//!
//! ```
//! use mcp_oauth_core::redirect::{redirect_uri_matches, validate_redirect_uri, RedirectUriKind};
//!
//! assert_eq!(validate_redirect_uri("http://127.0.0.1/callback")?, RedirectUriKind::Loopback);
//! assert!(validate_redirect_uri("http://evil.example/callback").is_err());
//! assert!(redirect_uri_matches("http://127.0.0.1/callback", "http://127.0.0.1:53121/callback"));
//! assert!(!redirect_uri_matches("https://app.example/cb", "https://app.example/cb/../x"));
//! # Ok::<(), mcp_oauth_core::redirect::RedirectUriError>(())
//! ```

use url::{Host, Url};

/// Why a redirect URI is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectUriError {
    /// Not an absolute URI.
    #[error("redirect URI is not an absolute URI: {0}")]
    NotAbsolute(String),
    /// Redirect URIs must not contain a fragment.
    #[error("redirect URI must not contain a fragment")]
    Fragment,
    /// Redirect URIs must not contain `user:pass@`.
    #[error("redirect URI must not contain userinfo")]
    UserInfo,
    /// Wildcards are never allowed.
    #[error("redirect URI must not contain a wildcard")]
    Wildcard,
    /// `http` on a host that is not loopback.
    #[error("http redirect URIs are allowed only on loopback hosts (127.0.0.1, [::1], localhost)")]
    InsecureHttp,
    /// A scheme that is neither http(s) nor a reverse-domain private-use
    /// scheme (`javascript:`, `data:`, `file:`, ...).
    #[error("redirect URI scheme {0:?} is not allowed")]
    Scheme(String),
}

/// What kind of redirect URI a valid one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectUriKind {
    /// `https://…`
    Https,
    /// `http://` on a loopback host (RFC 8252 §7.3).
    Loopback,
    /// A reverse-domain private-use scheme (RFC 8252 §7.1).
    PrivateUse,
}

/// Validates a redirect URI for registration or authorization.
pub fn validate_redirect_uri(uri: &str) -> Result<RedirectUriKind, RedirectUriError> {
    if uri.contains('*') {
        return Err(RedirectUriError::Wildcard);
    }
    if uri.contains('#') {
        return Err(RedirectUriError::Fragment);
    }
    let url = Url::parse(uri).map_err(|e| RedirectUriError::NotAbsolute(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectUriError::UserInfo);
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(RedirectUriKind::Https),
        "http" if is_loopback(&url) => Ok(RedirectUriKind::Loopback),
        "http" => Err(RedirectUriError::InsecureHttp),
        scheme if scheme.contains('.') => Ok(RedirectUriKind::PrivateUse),
        scheme => Err(RedirectUriError::Scheme(scheme.to_owned())),
    }
}

/// Whether a URL is `http` on a loopback host.
pub fn is_loopback(url: &Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        }
}

/// Whether `presented` (from an authorization or token request) matches
/// `registered`: exactly, or, for a loopback registration, with any port but
/// otherwise the same URI (RFC 8252 §7.3).
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(reg), Ok(pre)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    if !is_loopback(&reg) || !is_loopback(&pre) || presented.contains('#') {
        return false;
    }
    let (mut reg, mut pre) = (reg, pre);
    // Both are http URLs with a host, so clearing the port always succeeds.
    if reg.set_port(None).is_err() || pre.set_port(None).is_err() {
        return false;
    }
    // Compare the port-less forms; the raw strings must also agree apart from
    // the port, which rules out normalisation tricks such as `/a/../b`.
    reg == pre && strip_port(registered) == strip_port(presented)
}

fn strip_port(uri: &str) -> String {
    // `scheme://host[:port]rest`: drop `:port` from the authority.
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let host = match authority.rfind(':') {
        Some(i)
            if !authority[i + 1..].is_empty()
                && authority[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &authority[..i]
        }
        _ => authority,
    };
    format!("{scheme}://{host}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            validate_redirect_uri("https://app.example/cb"),
            Ok(RedirectUriKind::Https)
        );
        assert_eq!(
            validate_redirect_uri("http://localhost:3000/callback"),
            Ok(RedirectUriKind::Loopback)
        );
        assert_eq!(
            validate_redirect_uri("http://[::1]/cb"),
            Ok(RedirectUriKind::Loopback)
        );
        assert_eq!(
            validate_redirect_uri("com.example.app:/oauth2redirect"),
            Ok(RedirectUriKind::PrivateUse)
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            validate_redirect_uri("https://app.example/cb#x"),
            Err(RedirectUriError::Fragment)
        );
        assert_eq!(
            validate_redirect_uri("https://*.example/cb"),
            Err(RedirectUriError::Wildcard)
        );
        assert_eq!(
            validate_redirect_uri("http://app.example/cb"),
            Err(RedirectUriError::InsecureHttp)
        );
        assert_eq!(
            validate_redirect_uri("http://127.0.0.1.evil.example/cb"),
            Err(RedirectUriError::InsecureHttp)
        );
        assert_eq!(
            validate_redirect_uri("https://u:p@app.example/cb"),
            Err(RedirectUriError::UserInfo)
        );
        assert_eq!(
            validate_redirect_uri("javascript:alert(1)"),
            Err(RedirectUriError::Scheme("javascript".into()))
        );
        assert!(validate_redirect_uri("/relative").is_err());
    }

    #[test]
    fn matching() {
        assert!(redirect_uri_matches(
            "https://app.example/cb",
            "https://app.example/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example/cb",
            "https://app.example/cb/"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example/cb",
            "https://app.example/cb?x=1"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example/cb",
            "https://app.example:8443/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example/cb",
            "https://APP.example/cb"
        ));
        // Loopback: any port, nothing else differs.
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:49152/cb"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:49152/cb"
        ));
        assert!(redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:1234/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:1/other"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://localhost:1/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/a/b",
            "http://127.0.0.1:1/a/x/../b"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:1/cb#frag"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "https://127.0.0.1:1/cb"
        ));
    }
}
