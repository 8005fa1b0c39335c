//! The OAuth 2.1 authorization server of the mcp-oauth stack.
//!
//! **Status: not built yet.** This crate reserves its place in the workspace;
//! the server (discovery, dynamic client registration, authorize + login,
//! token with PKCE and refresh rotation, introspection, revocation, JWKS, on
//! actix-web with memory and SQLite storage) arrives with its own issue.
//! Until then it re-exports the shared types it will be built on.
//!
//! ```
//! use mcp_oauth_server::core::discovery::authorization_server_metadata_urls;
//!
//! let urls = authorization_server_metadata_urls("http://127.0.0.1:9000")?;
//! assert_eq!(urls[0].path(), "/.well-known/oauth-authorization-server");
//! # Ok::<(), mcp_oauth_server::core::discovery::DiscoveryError>(())
//! ```

pub use mcp_oauth_core as core;
