//! [`BuildError`]: why a [`Verifier`](crate::Verifier) could not be built.

use mcp_oauth_core::discovery::DiscoveryError;
use mcp_oauth_core::issuer::IssuerError;
use mcp_oauth_core::resource::ResourceError;
use mcp_oauth_core::scope::ScopeError;

/// Building a [`Verifier`](crate::Verifier) failed. Each variant keeps the
/// offending input, and the parse error behind it as its
/// [`source`](std::error::Error::source).
///
/// ```
/// use std::error::Error as _;
/// use mcp_oauth_verifier::{BuildError, Verifier};
///
/// let err = Verifier::builder("mcp.example.com/mcp")
///     .authorization_server("https://auth.example.com")
///     .build()
///     .unwrap_err();
/// assert!(matches!(&err, BuildError::Resource { input, .. } if input == "mcp.example.com/mcp"));
/// assert!(err.source().is_some());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The resource is not a valid canonical URI.
    #[error("invalid resource URI {input:?}: {source}")]
    Resource {
        /// The resource as configured.
        input: String,
        /// Why it is not a canonical resource URI.
        #[source]
        source: ResourceError,
    },
    /// No RFC 9728 metadata URL can be derived from the resource.
    #[error("no protected resource metadata URL for {input:?}: {source}")]
    ResourceMetadataUrl {
        /// The resource as configured.
        input: String,
        /// Why the well-known URL could not be formed.
        #[source]
        source: DiscoveryError,
    },
    /// An issuer is not a valid URL.
    #[error("invalid authorization server {input:?}: {source}")]
    Issuer {
        /// The issuer as configured.
        input: String,
        /// Why it is not a valid issuer identifier.
        #[source]
        source: IssuerError,
    },
    /// A scope is invalid.
    #[error("invalid scope in {input:?}: {source}")]
    Scope {
        /// The scopes as configured (space-separated).
        input: String,
        /// Why they do not parse.
        #[source]
        source: ScopeError,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    /// An allowed origin is not of the form `scheme://host[:port]` (`null`
    /// is never allowed). It carries the offending value.
    #[error("invalid allowed origin {0:?}: expected scheme://host[:port]")]
    Origin(String),
    /// A JWK Set URL or shared secret was configured while several
    /// authorization servers are trusted: such keys belong to one issuer,
    /// and the verifier could not tell whose tokens they may verify.
    #[error(
        "an explicit jwks_uri or shared secret belongs to one authorization server, \
         but {issuers} are configured"
    )]
    ExplicitKeysNeedOneIssuer {
        /// How many authorization servers were configured.
        issuers: usize,
    },
    /// The introspection endpoint is neither https nor a plain-http
    /// loopback address: the verifier's credentials and every caller's
    /// token would cross the network in the clear. It carries the URL.
    #[error("introspection endpoint {0:?}: use https (plain http only to a loopback address)")]
    InsecureIntrospectionEndpoint(String),
}
