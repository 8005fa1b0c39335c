//! The OAuth 2.1 client of the mcp-oauth stack, for MCP agents.
//!
//! **Status: not built yet.** This crate reserves its place in the
//! workspace; the client (discovery from a 401, registration, PKCE login,
//! encrypted token storage, refresh, rmcp transport) arrives with its own
//! issue. Until then it re-exports the shared types it will be built on.
//!
//! ```
//! use mcp_oauth_client::core::pkce::{PkceChallenge, PkceVerifier};
//!
//! let verifier = PkceVerifier::generate()?;
//! assert_eq!(PkceChallenge::s256(&verifier).as_str().len(), 43);
//! # Ok::<(), mcp_oauth_client::core::pkce::PkceError>(())
//! ```

pub use mcp_oauth_core as core;
