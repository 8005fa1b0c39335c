//! RFC 8707 resource indicators: the canonical URI of an MCP server.
//!
//! The MCP authorization spec names the MCP server by its canonical URI in
//! the `resource` parameter of authorization and token requests, in the
//! `aud` of the access token, and in the `resource` of its RFC 9728
//! metadata. [`ResourceUri`] produces that form: lowercase scheme and host,
//! no default port, no fragment, no userinfo, and no trailing slash for the
//! root path. Uppercase input is accepted, as the spec asks.
//!
//! ```
//! use mcp_oauth_core::resource::ResourceUri;
//!
//! let r = ResourceUri::parse("HTTPS://MCP.Example.com:443/")?;
//! assert_eq!(r.as_str(), "https://mcp.example.com");
//! assert!(r.matches("https://mcp.example.com/"));
//! assert!(!r.matches("https://other.example.com"));
//! assert!(ResourceUri::parse("https://mcp.example.com#frag").is_err());
//! # Ok::<(), mcp_oauth_core::resource::ResourceError>(())
//! ```

use std::fmt;

use url::Url;

/// Why a string is not a valid resource indicator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// Not an absolute URI (for example `mcp.example.com`).
    #[error("resource must be an absolute URI: {0}")]
    NotAbsolute(String),
    /// A scheme other than `http` or `https`.
    #[error("resource scheme must be http or https, got {0:?}")]
    Scheme(String),
    /// RFC 8707 §2: the URI must not contain a fragment.
    #[error("resource must not contain a fragment")]
    Fragment,
    /// A `user:password@` part.
    #[error("resource must not contain userinfo")]
    UserInfo,
    /// No host.
    #[error("resource must have a host")]
    MissingHost,
}

/// A canonical resource URI; see the [module documentation](self).
#[derive(Clone)]
pub struct ResourceUri {
    canonical: String,
    url: Url,
}

impl PartialEq for ResourceUri {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for ResourceUri {}

impl std::hash::Hash for ResourceUri {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl ResourceUri {
    /// Parses and canonicalises a resource URI.
    pub fn parse(input: &str) -> Result<Self, ResourceError> {
        let url =
            Url::parse(input.trim()).map_err(|e| ResourceError::NotAbsolute(e.to_string()))?;
        Self::from_url(&url)
    }

    /// Canonicalises an already parsed URL.
    pub fn from_url(url: &Url) -> Result<Self, ResourceError> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(ResourceError::Scheme(other.to_owned())),
        }
        if url.fragment().is_some() {
            return Err(ResourceError::Fragment);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ResourceError::UserInfo);
        }
        let host = url.host_str().ok_or(ResourceError::MissingHost)?;
        let mut canonical = format!("{}://{}", url.scheme(), host);
        if let Some(port) = url.port() {
            canonical.push_str(&format!(":{port}"));
        }
        let path = url.path();
        match url.query() {
            None if path == "/" => {}
            None => canonical.push_str(path),
            Some(q) => {
                canonical.push_str(path);
                canonical.push('?');
                canonical.push_str(q);
            }
        }
        Ok(Self {
            canonical,
            url: url.clone(),
        })
    }

    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The resource as a parsed [`Url`] (whose serialisation, unlike
    /// [`ResourceUri::as_str`], has a `/` path at the root).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether `other` names the same resource: equal canonical forms, where
    /// a single trailing slash on the path is not significant. An invalid
    /// `other` never matches.
    pub fn matches(&self, other: &str) -> bool {
        match Self::parse(other) {
            Ok(o) => comparison_key(&self.canonical) == comparison_key(&o.canonical),
            Err(_) => false,
        }
    }

    /// Whether this resource contains `other`: same origin and `self`'s path
    /// is a prefix of `other`'s on a segment boundary. A server whose
    /// metadata names `https://h/mcp` thus covers `https://h/mcp/tenant`,
    /// but not `https://h/mcpx`. Queries must be equal.
    pub fn covers(&self, other: &ResourceUri) -> bool {
        let (a, b) = (&self.url, &other.url);
        if a.origin() != b.origin() || a.query() != b.query() {
            return false;
        }
        let ap = a.path().trim_end_matches('/');
        let bp = b.path().trim_end_matches('/');
        bp == ap || (bp.starts_with(ap) && bp.as_bytes().get(ap.len()) == Some(&b'/'))
    }
}

fn comparison_key(canonical: &str) -> &str {
    if canonical.contains('?') {
        canonical
    } else {
        canonical.strip_suffix('/').unwrap_or(canonical)
    }
}

impl fmt::Debug for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResourceUri").field(&self.canonical).finish()
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

crate::macros::string_serde!(ResourceUri, ResourceError, ResourceUri::parse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("https://mcp.example.com", "https://mcp.example.com"),
            ("https://mcp.example.com/", "https://mcp.example.com"),
            ("HTTPS://MCP.EXAMPLE.COM/mcp", "https://mcp.example.com/mcp"),
            (
                "https://mcp.example.com:443/mcp",
                "https://mcp.example.com/mcp",
            ),
            ("http://127.0.0.1:80/mcp", "http://127.0.0.1/mcp"),
            (
                "https://mcp.example.com:8443",
                "https://mcp.example.com:8443",
            ),
            (
                "https://mcp.example.com/server/mcp",
                "https://mcp.example.com/server/mcp",
            ),
            (
                "https://mcp.example.com/mcp/",
                "https://mcp.example.com/mcp/",
            ),
            ("http://[::1]:8000/mcp", "http://[::1]:8000/mcp"),
            ("https://h.example/?tenant=a", "https://h.example/?tenant=a"),
        ];
        for (input, want) in cases {
            assert_eq!(ResourceUri::parse(input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn invalid_resources() {
        assert!(matches!(
            ResourceUri::parse("mcp.example.com"),
            Err(ResourceError::NotAbsolute(_))
        ));
        assert_eq!(
            ResourceUri::parse("https://mcp.example.com#fragment"),
            Err(ResourceError::Fragment)
        );
        assert_eq!(
            ResourceUri::parse("https://a.example/#"),
            Err(ResourceError::Fragment)
        );
        assert_eq!(
            ResourceUri::parse("https://u:p@a.example/mcp"),
            Err(ResourceError::UserInfo)
        );
        assert_eq!(
            ResourceUri::parse("urn:example:mcp"),
            Err(ResourceError::Scheme("urn".into()))
        );
        assert!(ResourceUri::parse("").is_err());
    }

    #[test]
    fn matching_ignores_case_ports_and_one_trailing_slash() {
        let r = ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
        assert!(r.matches("HTTPS://mcp.EXAMPLE.com:443/mcp"));
        assert!(r.matches("https://mcp.example.com/mcp/"));
        assert!(!r.matches("https://mcp.example.com/MCP"));
        assert!(!r.matches("https://mcp.example.com/mcp2"));
        assert!(!r.matches("http://mcp.example.com/mcp"));
        assert!(!r.matches("https://mcp.example.com:8443/mcp"));
        assert!(!r.matches("not a uri"));
    }

    #[test]
    fn covers_on_segment_boundaries() {
        let base = ResourceUri::parse("https://h.example/mcp").unwrap();
        let sub = ResourceUri::parse("https://h.example/mcp/tenant").unwrap();
        let near = ResourceUri::parse("https://h.example/mcpx").unwrap();
        let root = ResourceUri::parse("https://h.example").unwrap();
        assert!(base.covers(&sub));
        assert!(base.covers(&base));
        assert!(!base.covers(&near));
        assert!(!sub.covers(&base));
        assert!(root.covers(&sub));
        assert!(!root.covers(&ResourceUri::parse("https://other.example/mcp").unwrap()));
    }
}
