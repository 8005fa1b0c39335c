//! Exchanges a person's access token (held by a resource server the
//! operator allows) for the token of the upstream provider the person signed
//! in with, so a tool can call that provider's API as them.
//!
//! The request names the provider by its id as `audience`, or by one of its
//! configured API base URLs as `resource`. The caller must be a
//! confidential resource server the operator created (as for
//! introspection) and listed in the provider's `exchange_clients`, and may
//! only exchange tokens sent to it (their `aud` is one of the resources it
//! serves). The subject token is checked as introspection
//! checks it (our signature, lifetime, `jti` and grant revocation), and its
//! person must still be admitted by the provider. The answer is the
//! provider's access token (refreshed upstream first when it expired),
//! never a refresh token. The audit trail records who got whose token at
//! which provider, never the token.

use mcp_oauth_core::ErrorCode;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::exchange::TokenTypeId;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::secret::AccessToken;
use mcp_oauth_core::token::{AccessTokenClaims, TokenResponse, TokenType};

use super::ExchangeRequest;
use crate::federation::UpstreamConfig;
use crate::oauth::audit::AuditKind;
use crate::oauth::error::OAuthResult;
use crate::oauth::grants::introspection::live;
use crate::oauth::grants::{GrantContext, federated_claims};
use crate::oauth::upstream_tokens::{self, VaultError};
use crate::storage::ClientRecord;

/// The upstream a request names: by id as `audience`, or by one of its API
/// base URLs as `resource`.
fn named_upstream<'a>(
    state: &GrantContext<'a>,
    request: &ExchangeRequest<'_>,
) -> Option<&'a UpstreamConfig> {
    if let Some(up) = request.audience.and_then(|a| state.federation.get(a)) {
        return Some(up);
    }
    let resource = request.resource.as_ref()?;
    state.federation.list().find(|u| {
        u.api_urls
            .iter()
            .filter_map(|url| ResourceUri::parse(url).ok())
            .any(|url| url.as_str() == resource.as_str())
    })
}

/// Whether the request names an upstream provider (by `audience` or
/// `resource`) rather than one of our resources.
pub(crate) fn is_upstream_request(state: &GrantContext<'_>, request: &ExchangeRequest<'_>) -> bool {
    named_upstream(state, request).is_some()
}

fn unauthorized(description: String) -> crate::oauth::error::OAuthError {
    ErrorResponse::new(ErrorCode::UnauthorizedClient)
        .with_description(description)
        .into()
}

/// Hands out the person's upstream access token, refreshing it first when
/// it expired.
pub(crate) async fn exchange(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    request: ExchangeRequest<'_>,
) -> OAuthResult<TokenResponse> {
    let Some(upstream) = named_upstream(state, &request) else {
        return Err(ErrorResponse::invalid_target("no such upstream provider").into());
    };
    // A resource server the operator created, as `/introspect` requires:
    // only then are its `resources` the resources it serves (an ordinary
    // client's are the audiences it may ask for).
    let allowed = upstream.store_tokens
        && client.is_trusted()
        && client.is_confidential()
        && client.policy.resource_server
        && upstream.exchange_clients.contains(&client.client_id);
    if !allowed {
        return Err(unauthorized(format!(
            "this client may not obtain tokens of the upstream provider {}",
            upstream.id
        )));
    }
    if *request.subject_token_type != TokenTypeId::AccessToken {
        return Err(ErrorResponse::invalid_request(
            "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
        )
        .into());
    }
    if request.actor.is_some() {
        return Err(ErrorResponse::invalid_request(
            "an actor_token is not accepted for upstream tokens",
        )
        .into());
    }
    let claims = subject_claims(state, client, &request).await?;
    federated_claims(state, &claims.sub).await?;
    let now = state.clock.now();
    let tokens = upstream_tokens::current(
        state.storage,
        state.federation,
        &claims.sub,
        &upstream.id,
        now,
    )
    .await
    .map_err(|e| refusal(upstream, e))?;
    state
        .audit
        .record(
            AuditKind::UpstreamTokenExchanged
                .entry()
                .client(&client.client_id)
                .subject(&claims.sub)
                .detail("provider", upstream.id.as_str()),
        )
        .await;
    Ok(TokenResponse {
        expires_in: tokens.expires_at.map(|t| t.saturating_sub(now)),
        issued_token_type: Some(TokenTypeId::AccessToken),
        token_type: TokenType::Bearer,
        ..TokenResponse::bearer(AccessToken::new(tokens.access_token.secret()), 0)
    })
}

/// The claims of the subject token: one of our access tokens, live (as
/// introspection decides), sent to one of the resources the caller (a
/// resource server) serves.
async fn subject_claims(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    request: &ExchangeRequest<'_>,
) -> OAuthResult<AccessTokenClaims> {
    let inactive =
        || ErrorResponse::invalid_grant("the subject_token is not an active access token");
    let claims = state
        .keys
        .verify(request.subject_token.secret())
        .filter(|c| c.exp > state.clock.now())
        .ok_or_else(inactive)?;
    if !live(state.storage, &claims).await? {
        return Err(inactive().into());
    }
    let sent_to_caller = client
        .policy
        .resources
        .iter()
        .filter_map(|r| ResourceUri::parse(r).ok())
        .any(|r| claims.aud.contains_resource(&r));
    if !sent_to_caller {
        return Err(ErrorResponse::invalid_grant(
            "the subject_token was not issued for a resource of this client",
        )
        .into());
    }
    Ok(claims)
}

/// What the caller is told when no upstream token can be had.
fn refusal(upstream: &UpstreamConfig, e: VaultError) -> crate::oauth::error::OAuthError {
    let text = match e {
        VaultError::Storage(e) => return e.into(),
        VaultError::NotKept => format!(
            "no {} token is kept for this person: they must sign in with {} \
             (tokens are kept from sign-ins through an application since the \
             provider keeps them)",
            upstream.name, upstream.name
        ),
        VaultError::Unusable => format!(
            "the kept {} token is unusable: the person must sign in with {} again",
            upstream.name, upstream.name
        ),
        VaultError::RefreshFailed(_) => format!(
            "the {} token expired and {} would not renew it: the person must sign in again",
            upstream.name, upstream.name
        ),
    };
    ErrorResponse::invalid_grant(text).into()
}
