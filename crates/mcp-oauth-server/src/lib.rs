//! The OAuth 2.1 authorization server of the mcp-oauth stack, on actix-web.
//!
//! **Status: in progress.** Working today, with in-memory storage:
//! discovery (RFC 8414 and the OIDC alias), JWKS with ES256 keys kept in
//! storage, dynamic client registration (RFC 7591), `/authorize` with a
//! login page and a headless JSON login, `/token` (authorization code with
//! PKCE S256, refresh-token rotation with reuse detection, client
//! credentials), introspection (RFC 7662) and revocation (RFC 7009).
//! Still to come: SQLite storage, the command-line binary, Client ID
//! Metadata Documents, consent memory, login rate limits, CORS, metrics and
//! `private_key_jwt`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mcp_oauth_core::{issuer::Issuer, secret::Password};
//! use mcp_oauth_server::{AppState, ServerConfig, serve, storage::MemoryStorage};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServerConfig::new(Issuer::parse("http://127.0.0.1:9000")?)
//!     .superuser("admin", Password::new("change me"));
//! let state = AppState::new(config, Arc::new(MemoryStorage::new())).await?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:9000")?;
//! serve(state, listener)?.await?;
//! # Ok(()) }
//! ```

mod app;
mod config;
mod endpoints;
mod http_error;
pub mod keys;
pub mod password;
pub mod storage;

pub use app::{AppState, StartError, configure, now, serve};
pub use config::{RegistrationPolicy, ServerConfig};
pub use http_error::{OAuthHttpError, OAuthResult};
pub use mcp_oauth_core as core;
