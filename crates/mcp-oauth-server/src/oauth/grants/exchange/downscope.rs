//! Exchanges one of our access tokens for a narrower one of ours, for a
//! downstream resource the person already granted, recording the exchanging
//! client in an RFC 8693 `act` chain.

use mcp_oauth_core::token::TokenResponse;

use super::{ExchangeRequest, not_configured};
use crate::oauth::error::OAuthResult;
use crate::oauth::grants::GrantContext;
use crate::storage::ClientRecord;

/// Issues the narrower token.
pub(crate) async fn exchange(
    _state: &GrantContext<'_>,
    _client: &ClientRecord,
    _request: ExchangeRequest<'_>,
) -> OAuthResult<TokenResponse> {
    Err(not_configured("exchanging access tokens"))
}
