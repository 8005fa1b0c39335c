//! This server as an enterprise identity provider: exchanges an ID token it
//! issued to a client for an Identity Assertion JWT Authorization Grant
//! (ID-JAG) addressed to another authorization server, when the operator's
//! policy allows that client, audience and resource.

use mcp_oauth_core::token::TokenResponse;

use super::{ExchangeRequest, not_configured};
use crate::oauth::error::OAuthResult;
use crate::oauth::grants::GrantContext;
use crate::storage::ClientRecord;

/// Issues an ID-JAG for the person of the presented ID token.
pub(crate) async fn issue(
    _state: &GrantContext<'_>,
    _client: &ClientRecord,
    _request: ExchangeRequest<'_>,
) -> OAuthResult<TokenResponse> {
    Err(not_configured("issuing identity assertion grants"))
}
