//! Exchanges a person's access token (held by a resource server the
//! operator allows) for the token of the upstream provider the person signed
//! in with, so a tool can call that provider's API as them.

use mcp_oauth_core::token::TokenResponse;

use super::{ExchangeRequest, not_configured};
use crate::oauth::error::OAuthResult;
use crate::oauth::grants::GrantContext;
use crate::storage::ClientRecord;

/// Whether the request names an upstream provider (by `audience` or
/// `resource`) rather than one of our resources.
pub(crate) fn is_upstream_request(
    _state: &GrantContext<'_>,
    _request: &ExchangeRequest<'_>,
) -> bool {
    false
}

/// Hands out the person's upstream access token, refreshing it first when
/// it expired.
pub(crate) async fn exchange(
    _state: &GrantContext<'_>,
    _client: &ClientRecord,
    _request: ExchangeRequest<'_>,
) -> OAuthResult<TokenResponse> {
    Err(not_configured("upstream token exchange"))
}
