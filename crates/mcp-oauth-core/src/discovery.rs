//! Well-known URL derivation for discovery.
//!
//! - Authorization server metadata (RFC 8414 §3.1, OpenID Connect Discovery
//!   §4), in the order the MCP spec (2026-07-28, "Authorization Server
//!   Discovery") makes clients try them.
//! - Protected resource metadata (RFC 9728 §3.1): the path form first, then
//!   the root.
//!
//! ```
//! use mcp_oauth_core::discovery::{authorization_server_metadata_urls, protected_resource_metadata_urls};
//!
//! let urls = authorization_server_metadata_urls("https://auth.example.com/tenant1")?;
//! let urls: Vec<&str> = urls.iter().map(|u| u.as_str()).collect();
//! assert_eq!(urls, [
//!     "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
//!     "https://auth.example.com/.well-known/openid-configuration/tenant1",
//!     "https://auth.example.com/tenant1/.well-known/openid-configuration",
//! ]);
//!
//! let prm = protected_resource_metadata_urls("https://example.com/public/mcp")?;
//! assert_eq!(prm[0].as_str(), "https://example.com/.well-known/oauth-protected-resource/public/mcp");
//! assert_eq!(prm[1].as_str(), "https://example.com/.well-known/oauth-protected-resource");
//! # Ok::<(), mcp_oauth_core::discovery::DiscoveryError>(())
//! ```

use url::Url;

/// RFC 8414 well-known suffix.
pub const OAUTH_AUTHORIZATION_SERVER: &str = "oauth-authorization-server";
/// OpenID Connect Discovery well-known suffix.
pub const OPENID_CONFIGURATION: &str = "openid-configuration";
/// RFC 9728 well-known suffix.
pub const OAUTH_PROTECTED_RESOURCE: &str = "oauth-protected-resource";

/// A URL that discovery cannot start from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Not an absolute URL.
    #[error("not an absolute URL: {0}")]
    InvalidUrl(String),
    /// Not `http` or `https`, or no host.
    #[error("discovery needs an http(s) URL with a host: {0}")]
    NotHttp(String),
}

fn parse_http(input: &str) -> Result<Url, DiscoveryError> {
    let url = Url::parse(input).map_err(|e| DiscoveryError::InvalidUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(DiscoveryError::NotHttp(input.to_owned()));
    }
    Ok(url)
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &Url) -> String {
    let mut s = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        s.push_str(&format!(":{port}"));
    }
    s
}

fn build(origin: &str, path: &str, query: Option<&str>) -> Result<Url, DiscoveryError> {
    let mut s = format!("{origin}{path}");
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    Url::parse(&s).map_err(|e| DiscoveryError::InvalidUrl(e.to_string()))
}

/// The path of `url` without its terminating `/` (empty for the root).
fn trimmed_path(url: &Url) -> &str {
    url.path().trim_end_matches('/')
}

/// `{origin}/.well-known/{suffix}{path}`: the RFC 8414 §3.1 / RFC 9728 §3.1
/// path-insertion form.
pub fn well_known_inserted(url: &str, suffix: &str) -> Result<Url, DiscoveryError> {
    let u = parse_http(url)?;
    build(
        &origin_of(&u),
        &format!("/.well-known/{suffix}{}", trimmed_path(&u)),
        u.query(),
    )
}

/// The URLs to try for an issuer's metadata, in the MCP spec's order.
///
/// With a path (`https://as/tenant`): RFC 8414 path insertion, OIDC path
/// insertion, OIDC path appending. Without: RFC 8414, then OIDC.
pub fn authorization_server_metadata_urls(issuer: &str) -> Result<Vec<Url>, DiscoveryError> {
    let u = parse_http(issuer)?;
    let origin = origin_of(&u);
    let path = trimmed_path(&u);
    let mut urls = vec![
        well_known_inserted(issuer, OAUTH_AUTHORIZATION_SERVER)?,
        well_known_inserted(issuer, OPENID_CONFIGURATION)?,
    ];
    if !path.is_empty() {
        urls.push(build(
            &origin,
            &format!("{path}/.well-known/{OPENID_CONFIGURATION}"),
            None,
        )?);
    }
    Ok(urls)
}

/// The RFC 9728 metadata URL a protected resource publishes (path form).
pub fn protected_resource_metadata_url(resource: &str) -> Result<Url, DiscoveryError> {
    well_known_inserted(resource, OAUTH_PROTECTED_RESOURCE)
}

/// The URLs a client tries for a resource's metadata when the challenge
/// carries no `resource_metadata`: the path form, then the root (only one
/// URL when the resource is at the root).
pub fn protected_resource_metadata_urls(resource: &str) -> Result<Vec<Url>, DiscoveryError> {
    let u = parse_http(resource)?;
    let path_form = protected_resource_metadata_url(resource)?;
    let root = build(
        &origin_of(&u),
        &format!("/.well-known/{OAUTH_PROTECTED_RESOURCE}"),
        None,
    )?;
    Ok(if path_form == root {
        vec![root]
    } else {
        vec![path_form, root]
    })
}

/// The authorization base URL a 2025-03-26 client assumed when a server
/// published no protected resource metadata: the MCP server's origin.
pub fn legacy_authorization_base_url(mcp_url: &str) -> Result<Url, DiscoveryError> {
    let u = parse_http(mcp_url)?;
    build(&origin_of(&u), "/", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<Url>) -> Vec<String> {
        v.into_iter().map(String::from).collect()
    }

    #[test]
    fn issuer_without_path() {
        for issuer in ["https://auth.example.com", "https://auth.example.com/"] {
            assert_eq!(
                strs(authorization_server_metadata_urls(issuer).unwrap()),
                [
                    "https://auth.example.com/.well-known/oauth-authorization-server",
                    "https://auth.example.com/.well-known/openid-configuration",
                ]
            );
        }
    }

    #[test]
    fn issuer_with_path_and_port() {
        assert_eq!(
            strs(authorization_server_metadata_urls("http://127.0.0.1:9000/t/a/").unwrap()),
            [
                "http://127.0.0.1:9000/.well-known/oauth-authorization-server/t/a",
                "http://127.0.0.1:9000/.well-known/openid-configuration/t/a",
                "http://127.0.0.1:9000/t/a/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn rfc8414_section_3_1_example() {
        // "https://example.com/issuer1" -> ".well-known/oauth-authorization-server/issuer1"
        assert_eq!(
            authorization_server_metadata_urls("https://example.com/issuer1").unwrap()[0].as_str(),
            "https://example.com/.well-known/oauth-authorization-server/issuer1"
        );
    }

    #[test]
    fn rfc9728_section_3_1_example() {
        assert_eq!(
            protected_resource_metadata_url("https://resource.example.com/resource1")
                .unwrap()
                .as_str(),
            "https://resource.example.com/.well-known/oauth-protected-resource/resource1"
        );
        assert_eq!(
            strs(protected_resource_metadata_urls("https://resource.example.com").unwrap()),
            ["https://resource.example.com/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn resource_query_is_kept_in_path_form() {
        assert_eq!(
            protected_resource_metadata_url("https://r.example/mcp?tenant=a")
                .unwrap()
                .as_str(),
            "https://r.example/.well-known/oauth-protected-resource/mcp?tenant=a"
        );
    }

    #[test]
    fn legacy_base_and_errors() {
        assert_eq!(
            legacy_authorization_base_url("http://127.0.0.1:8000/mcp")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8000/"
        );
        assert!(authorization_server_metadata_urls("not a url").is_err());
        assert!(matches!(
            authorization_server_metadata_urls("mailto:a@b.example"),
            Err(DiscoveryError::NotHttp(_))
        ));
    }
}
