//! The OAuth 2.1 client of the mcp-oauth stack: logs an MCP agent in to any
//! spec-compliant MCP server.
//!
//! On the first 401 it discovers the server's authorization server
//! (protected resource metadata, then RFC 8414 / OIDC metadata, S256
//! required), gets a client identity (pre-registered, Client ID Metadata
//! Document, or dynamic registration), logs in with PKCE, `state`,
//! `resource` and the spec's scope choice, checks `state` and `iss`, and
//! stores the tokens (encrypted on disk with [`FileStore`]). Afterwards it
//! refreshes before expiry and on 401, re-authorizes with wider scopes on a
//! 403 `insufficient_scope`, and shares one refresh among concurrent
//! requests (and, through a shared [`FileStore`], among processes).
//!
//! In an enterprise, [`Login::IdentityAssertion`] trades the person's
//! sign-in at the company's identity provider for access tokens without
//! another login (enterprise-managed authorization: an ID-JAG from an RFC
//! 8693 token exchange at the IdP, redeemed with the RFC 7523 JWT bearer
//! grant).
//!
//! Secrets stay home: a password ([`Login::password`]) or a pre-registered
//! client is bound to the one authorization server named with
//! [`OAuthClientBuilder::authorization_server`]; an MCP server that points
//! elsewhere is refused ([`ClientError::UntrustedIssuer`]) before anything
//! is sent there. Every URL must be https (plain http only on loopback),
//! every response is read through a size cap and a deadline, and protected
//! resource metadata is accepted only when it is about the very server the
//! agent talks to.
//!
//! ```no_run
//! use mcp_oauth_client::{FileStore, Login, OAuthClient};
//! use mcp_oauth_client::rmcp::ServiceExt; // the rmcp this crate is built with
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = OAuthClient::builder("my-agent")
//!     .authorization_server("https://auth.example.com")
//!     .client_id("my-agent")
//!     .login(Login::password("alice", "..."))
//!     .token_store(FileStore::encrypted("tokens.bin", [0u8; 32]))
//!     .build()?;
//! let mcp = ().serve(client.transport("http://127.0.0.1:8000/mcp")?).await?;
//! let tools = mcp.list_all_tools().await?;
//! # let _ = tools; Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod config;
mod discovery;
mod error;
mod fetch;
mod issuer;
mod login;
mod session;
pub mod store;
#[cfg(feature = "rmcp")]
mod transport;

pub use client::{OAuthClient, OAuthClientBuilder};
pub use discovery::{ServerAuthorization, discover};
pub use error::{CallbackError, ClientError, FetchError, IdentityAssertionError, UrlError};
pub use login::device::{DeviceCodePrompt, DevicePrompt};
pub use login::identity_assertion::{
    FixedIdToken, IdJagProvider, IdJagRequest, IdTokenSource, IdentityAssertion, IdpClient,
    TokenFuture,
};
pub use login::{AuthorizeCallback, BrowserOpener, Credentials, Login};
pub use mcp_oauth_core as core;
/// The rmcp this crate is built with (3.11, with its `client` and
/// streamable-HTTP client features): use it through this path
/// (`mcp_oauth_client::rmcp::ServiceExt`, …) and the versions always agree.
/// A program that needs more of rmcp depends on the same version itself.
#[cfg(feature = "rmcp")]
pub use rmcp;
pub use session::Forgotten;
pub use store::{
    FileStore, MemoryStore, Registration, RegistrationKey, SessionKey, SessionRecord, StoreError,
    TokenStore, Tokens, TokensKey,
};
#[cfg(feature = "rmcp")]
pub use transport::AuthorizedClient;

/// This crate's README (published with it), compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctest;
