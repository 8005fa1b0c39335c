//! What can go wrong while logging an agent in, by step.

use mcp_oauth_core::error::ErrorResponse;

/// A failure of the client flow; the variant says which step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Finding the authorization server failed (protected resource
    /// metadata, authorization server metadata).
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// The authorization server does not support PKCE S256.
    #[error("the authorization server {0} does not support PKCE S256; refusing to use it")]
    NoS256(String),
    /// Dynamic registration failed.
    #[error("client registration failed: {0}")]
    Registration(String),
    /// The authorization step failed (login, consent, redirect checks).
    #[error("authorization failed: {0}")]
    Authorization(String),
    /// The authorization server refused the authorization.
    #[error("authorization refused by the server: {0}")]
    Denied(ErrorResponse),
    /// The token request failed.
    #[error("token request failed: {0}")]
    Token(ErrorResponse),
    /// Refreshing failed (the caller falls back to a new login).
    #[error("refresh failed: {0}")]
    Refresh(ErrorResponse),
    /// The token store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// An HTTP exchange failed.
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
    /// The login did not complete in time.
    #[error("login timed out")]
    Timeout,
    /// Step-up was attempted too many times for one request.
    #[error("the server keeps asking for more scopes ({0}); giving up")]
    TooManyStepUps(String),
    /// A configuration mistake.
    #[error("invalid configuration: {0}")]
    Config(String),
}
