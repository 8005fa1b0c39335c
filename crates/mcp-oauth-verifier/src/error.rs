//! [`BuildError`]: why a [`Verifier`](crate::Verifier) could not be built.

/// Building a [`Verifier`](crate::Verifier) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The resource is not a valid canonical URI.
    #[error("invalid resource URI: {0}")]
    Resource(String),
    /// An issuer is not a valid URL.
    #[error("invalid authorization server: {0}")]
    Issuer(String),
    /// A scope is invalid.
    #[error("invalid scope: {0}")]
    Scope(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// An allowed origin is not of the form `scheme://host[:port]` (`null`
    /// is never allowed).
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
}
