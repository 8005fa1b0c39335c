//! RFC 8693 token exchange at `/token`, one file per kind of answer:
//! identity assertion grants for other authorization servers when this
//! server is an enterprise's identity provider ([`id_jag`]), narrower tokens
//! of ours for a downstream resource with an `act` chain ([`downscope`]),
//! and a person's upstream provider token for a resource server allowed to
//! call that provider as them ([`upstream`]).

pub(crate) mod downscope;
pub(crate) mod id_jag;
pub(crate) mod upstream;

use mcp_oauth_core::ErrorCode;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::exchange::TokenTypeId;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::SecurityToken;
use mcp_oauth_core::token::TokenResponse;

use super::GrantContext;
use crate::oauth::error::OAuthResult;
use crate::storage::ClientRecord;

/// A decoded token exchange request.
#[allow(dead_code)] // read by the exchanges as they are built
pub(crate) struct ExchangeRequest<'a> {
    pub(crate) subject_token: &'a SecurityToken,
    pub(crate) subject_token_type: &'a TokenTypeId,
    pub(crate) requested_token_type: Option<&'a TokenTypeId>,
    pub(crate) audience: Option<&'a str>,
    pub(crate) resource: Option<ResourceUri>,
    pub(crate) scope: Option<ScopeSet>,
    pub(crate) actor: Option<(&'a SecurityToken, &'a TokenTypeId)>,
}

/// Answers a token exchange by the kind of token asked for and the token
/// presented.
pub(crate) async fn exchange(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    request: ExchangeRequest<'_>,
) -> OAuthResult<TokenResponse> {
    match request.requested_token_type {
        Some(TokenTypeId::IdJag) => id_jag::issue(state, client, request).await,
        Some(TokenTypeId::AccessToken) | None if upstream::is_upstream_request(state, &request) => {
            upstream::exchange(state, client, request).await
        }
        Some(TokenTypeId::AccessToken) | None => downscope::exchange(state, client, request).await,
        Some(other) => Err(ErrorResponse::invalid_request(format!(
            "requested_token_type {} cannot be issued here",
            other.as_str()
        ))
        .into()),
    }
}

/// The refusal of an exchange this server is not configured for.
pub(crate) fn not_configured(what: &str) -> crate::oauth::error::OAuthError {
    ErrorResponse::new(ErrorCode::UnauthorizedClient)
        .with_description(format!("{what} is not configured on this server"))
        .into()
}
