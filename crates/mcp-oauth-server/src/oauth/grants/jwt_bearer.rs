//! The JWT authorization grant (RFC 7523 §2.1) with Identity Assertion
//! JWT Authorization Grants (ID-JAG) from the enterprise identity providers
//! the operator trusts (MCP enterprise-managed authorization).

use mcp_oauth_core::ErrorCode;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::SecurityToken;
use mcp_oauth_core::token::TokenResponse;

use super::GrantContext;
use crate::oauth::error::OAuthResult;
use crate::storage::ClientRecord;

/// Issues an access token (never a refresh token: the client exchanges a
/// new grant at its identity provider) for the person an ID-JAG names.
pub(crate) async fn issue(
    _state: &GrantContext<'_>,
    _client: &ClientRecord,
    _assertion: &SecurityToken,
    _scope: Option<ScopeSet>,
) -> OAuthResult<TokenResponse> {
    Err(ErrorResponse::new(ErrorCode::UnsupportedGrantType)
        .with_description("no identity provider is trusted for JWT authorization grants")
        .into())
}
