//! RFC 8693 token exchange at `/token`, one file per kind of answer:
//! identity assertion grants for other authorization servers when this
//! server is an enterprise's identity provider ([`id_jag`]), narrower tokens
//! of ours for a downstream resource with an `act` chain ([`downscope`]),
//! and a person's upstream provider token for a resource server allowed to
//! call that provider as them ([`upstream`]).

pub(crate) mod downscope;
pub(crate) mod id_jag;
pub(crate) mod upstream;

use std::collections::BTreeMap;

use mcp_oauth_core::ErrorCode;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::exchange::TokenTypeId;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::SecurityToken;
use mcp_oauth_core::token::TokenResponse;

use super::{GrantContext, federated_claims};
use crate::oauth::error::{OAuthError, OAuthResult};
use crate::storage::ClientRecord;

/// A decoded token exchange request.
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
/// presented. Only a client the operator created, and a confidential one,
/// may exchange tokens (DESIGN §4: grants without a person signing in
/// are for trusted clients): anyone else is `unauthorized_client`.
pub(crate) async fn exchange(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    request: ExchangeRequest<'_>,
) -> OAuthResult<TokenResponse> {
    if !client.is_trusted() || !client.is_confidential() {
        return Err(ErrorResponse::new(ErrorCode::UnauthorizedClient)
            .with_description(
                "token exchange is only for confidential clients the operator created",
            )
            .into());
    }
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

/// Refuses an `actor_token`: the actor of an exchange here is always the
/// authenticated client, so a separate actor token is not taken (RFC 8693
/// §2.2.2: `invalid_request`).
pub(crate) fn no_actor_token(request: &ExchangeRequest<'_>) -> OAuthResult<()> {
    match request.actor {
        None => Ok(()),
        Some(_) => Err(ErrorResponse::invalid_request(
            "actor_token is not accepted: the authenticated client is the actor",
        )
        .into()),
    }
}

/// The scope granted from `requested` within `cap`: the whole cap when
/// nothing (or an empty scope) was asked; `invalid_scope` naming what
/// exceeds it.
pub(crate) fn capped_scope(requested: Option<ScopeSet>, cap: &ScopeSet) -> OAuthResult<ScopeSet> {
    match requested.filter(|s| !s.is_empty()) {
        None => Ok(cap.clone()),
        Some(asked) if asked.is_subset(cap) => Ok(asked),
        Some(asked) => Err(ErrorResponse::invalid_scope(format!(
            "scope not allowed for this exchange: {}",
            asked.difference(cap)
        ))
        .into()),
    }
}

/// Whether the person a presented token names (`subject`, in a token
/// issued at `iat`) still holds their grants: nobody ended them since
/// (password change, removal, `user revoke`), a local user still exists,
/// a federated person's provider is still configured and still admits
/// them. Returns the claims a federated person's tokens carry (none for a
/// local user). A refusal is `invalid_request` (RFC 8693 §2.2.2: the
/// subject token is unacceptable).
pub(crate) async fn person_live(
    state: &GrantContext<'_>,
    subject: &str,
    iat: u64,
) -> OAuthResult<BTreeMap<String, serde_json::Value>> {
    if state.storage.subject(subject).await?.revoked_at >= iat {
        return Err(ErrorResponse::invalid_request(
            "subject_token was revoked: the person's grants were ended since it was issued",
        )
        .into());
    }
    if !subject.contains(':') {
        if state.storage.user(subject).await?.is_none() {
            return Err(ErrorResponse::invalid_request(
                "subject_token names a person who no longer exists",
            )
            .into());
        }
        return Ok(BTreeMap::new());
    }
    federated_claims(state, subject)
        .await
        .map_err(|e| as_invalid_request(&e).unwrap_or(e))
}

/// The `invalid_request` of RFC 8693 §2.2.2 for an `invalid_grant` about
/// the subject token (same description); `None` for any other error.
fn as_invalid_request(e: &OAuthError) -> Option<OAuthError> {
    (*e.code() == ErrorCode::InvalidGrant).then(|| {
        ErrorResponse::invalid_request(
            e.body()
                .error_description
                .as_deref()
                .unwrap_or("subject_token is not acceptable"),
        )
        .into()
    })
}
