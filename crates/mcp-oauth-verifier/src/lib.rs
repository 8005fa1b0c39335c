//! Bearer-token verification for MCP resource servers.
//!
//! **Status: not built yet.** This crate reserves its place in the
//! workspace; the verifier (JWT via JWKS or RFC 7662 introspection, audience
//! and scope checks, RFC 9728 metadata, tower and actix-web glue for rmcp)
//! arrives with its own issue. Until then it re-exports the shared types it
//! will be built on.
//!
//! ```
//! use mcp_oauth_verifier::core::{challenge::BearerChallenge, error::ErrorCode};
//!
//! let header = BearerChallenge::new().error(ErrorCode::InvalidToken).to_header_value();
//! assert_eq!(header, r#"Bearer error="invalid_token""#);
//! ```

pub use mcp_oauth_core as core;
