//! Bearer-token verification for MCP resource servers.
//!
//! A [`Verifier`] decides, for each request to a protected MCP endpoint,
//! who is calling and whether they may: it verifies JWT access tokens
//! locally with the authorization server's JWK Set (RFC 9068; default) or
//! asks the AS (RFC 7662 introspection), checks issuer, audience (the
//! token must be for *this* resource: RFC 8707, no token passthrough), time
//! and scopes, and turns every refusal into the right status and
//! `WWW-Authenticate` challenge, with `resource_metadata` pointing at the
//! RFC 9728 document it also serves. Before any of that, a browser request
//! from an origin the resource does not allow is refused with 403
//! ([`Verifier::check_origin`]). [`Verifier::stats`] reports on its cache
//! and its calls to the authorization server.
//!
//! With the `tower` feature (default) it is a `Layer` for rmcp's
//! `StreamableHttpService` under axum (module `tower`); with `actix`,
//! actix-web middleware (module `actix`, whose `protect` mounts metadata and
//! the protected service at once). Both glue modules hold the verifier they
//! were given. Tools read the caller's [`Claims`] from the request
//! extensions.
//!
//! ```
//! use mcp_oauth_verifier::{Rejection, Verifier};
//!
//! let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
//!     .authorization_server("http://127.0.0.1:9000")
//!     .required_scopes(["mcp"])
//!     .jwks()
//!     .build()?;
//! assert_eq!(
//!     verifier.resource_metadata_url(),
//!     "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"
//! );
//! // A request without a token gets a challenge pointing at the metadata.
//! assert_eq!(
//!     verifier.challenge(&Rejection::MissingToken),
//!     r#"Bearer scope="mcp", resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp""#
//! );
//! # Ok::<(), mcp_oauth_verifier::BuildError>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod cache;
mod claims;
mod discovery;
mod error;
mod exchange;
mod fetch;
mod introspection;
mod jwks;
mod jwt;
mod mcp_headers;
mod origin;
mod stats;
#[cfg(any(feature = "tower", feature = "actix"))]
mod tools_filter;
mod unavailable;
mod verifier;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "actix")]
mod actix_filter;
#[cfg(feature = "tower")]
pub mod tower;

pub use builder::mode::{AnyMode, IntrospectionMode, JwtMode};
pub use builder::{NoIssuer, VerifierBuilder, WithIssuer};
pub use claims::{Claims, Rejection};
pub use error::BuildError;
pub use exchange::{ExchangeError, UpstreamToken};
pub use mcp_headers::{MCP_METHOD, MCP_NAME};
pub use mcp_oauth_core as core;
/// The rmcp this crate is built with, under the `rmcp` feature (3.11): the
/// claims of a request reach tools through it (`Claims::from_parts`). A
/// server depends on the same version itself for its server features
/// (`server`, `transport-streamable-http-server`, `macros`); cargo then
/// builds one rmcp with all of them.
#[cfg(feature = "rmcp")]
pub use rmcp;
pub use stats::VerifierStats;
pub use unavailable::Unavailable;
pub use verifier::Verifier;

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// This crate's README (published with it), compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctest;
