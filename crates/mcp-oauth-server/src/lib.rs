//! The OAuth 2.1 authorization server of the mcp-oauth stack, on actix-web.
//!
//! Operators run the `mcp-oauth-server` binary (SQLite storage, admin
//! subcommands; `--help`). Embedders use this library: [`QuickServer`] for
//! the two-line case, or [`AuthServer`] + [`configure`] to mount the server's
//! routes into their own actix-web app.
//!
//! Endpoints: RFC 8414 metadata (and the OIDC alias), `/jwks` (ES256 or
//! EdDSA keys kept in storage, optionally encrypted, rotating on a schedule
//! and published ahead of use), `/register` (RFC 7591), `/authorize` with an
//! HTML login page and a headless JSON login, `/token` (authorization code
//! with PKCE S256; refresh-token rotation with reuse detection and a grace
//! window; client credentials), `/introspect` (RFC 7662), `/revoke` (RFC
//! 7009), `/healthz`; federated login through upstream identity providers
//! ([`federation`]). Storage: [`storage::MemoryStorage`],
//! [`storage::SqliteStorage`] and [`storage::PostgresStorage`] behind one
//! [`storage::Storage`] trait.
//!
//! [`serve_tls`] serves HTTPS itself (HTTP/2 and HTTP/1.1) with a
//! certificate that [`tls::CertificateReloader`] swaps without a restart.
//!
//! Features (all on by default): `sqlite` (the SQLite backend), `postgres`
//! (the PostgreSQL backend, with TLS by rustls) and `mimalloc` (the
//! binary's allocator). The memory backend is always there;
//! [`storage::open`] refuses a backend the build leaves out.
//!
//! ```
//! use mcp_oauth_server::QuickServer;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 1)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = QuickServer::new("127.0.0.1", 0).superuser("admin", "s3cret").start().await?;
//! assert!(server.issuer.starts_with("http://127.0.0.1:"));
//! server.stop().await;
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admin;
pub mod admin_api;
mod app;
mod cache;
pub mod cimd;
pub mod clock;
mod config;
pub mod exchange_config;
pub mod federation;
pub mod fetch;
mod http;
pub mod keys;
pub mod metrics;
mod oauth;
mod operator;
pub mod password;
mod quick;
pub mod ratelimit;
mod refresh_seal;
mod stamp_cache;
mod startup;
pub mod storage;
#[cfg(feature = "postgres")]
#[doc(hidden)]
pub mod testing;
pub mod tls;

pub use admin_api::{AdminAuthError, AdminCaller, record_admin_call};
pub use app::AuthServer;
pub use config::{
    ADMIN_SCOPE, AdminApi, AuditLog, ConnectionLimits, OIDC_SCOPES, ProxyHeader,
    RegistrationPolicy, ServerConfig,
};
pub use http::{configure, serve, serve_tls};
pub use mcp_oauth_core as core;
pub use oauth::accounts::{AccountError, Accounts};
pub use oauth::audit::{Actor, AuditEntry, AuditKind, Auditor};
pub use oauth::clients::ClientLookupError;
pub use oauth::error::{OAuthError, OAuthResult};
pub use oauth::grants::revoke::Revoked;
pub use operator::OperatorClient;
pub use quick::{QuickServer, RunningServer};
pub use startup::StartError;

/// This crate's README (published with it), compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctest;
