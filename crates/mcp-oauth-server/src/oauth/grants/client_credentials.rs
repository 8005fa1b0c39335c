//! The client credentials grant (OAuth 2.1 §4.2): tokens without a person,
//! for clients the operator created only. A stranger who registers itself
//! gets nothing without a person signing in and consenting.

use std::collections::BTreeMap;

use mcp_oauth_core::ErrorCode;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::token::TokenResponse;

use super::GrantContext;
use super::issue::{Grant, access_token, random_id};
use crate::oauth::error::OAuthResult;
use crate::storage::ClientRecord;

/// Issues a token to `client` for itself.
pub(crate) async fn issue(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    scope: Option<ScopeSet>,
    resource: Option<&ResourceUri>,
) -> OAuthResult<TokenResponse> {
    let unauthorized = |m: &str| -> OAuthResult<TokenResponse> {
        Err(ErrorResponse::new(ErrorCode::UnauthorizedClient)
            .with_description(m)
            .into())
    };
    if !client.is_trusted() {
        return unauthorized(
            "client_credentials is only for clients the operator created; \
             this client must act for a person who signs in",
        );
    }
    if !client.is_confidential() {
        return unauthorized("client_credentials needs a confidential client");
    }
    // A client without a scope list may have every supported scope but
    // the admin API's: that one only a client the operator gave it
    // explicitly.
    let supported: ScopeSet = state
        .config
        .scopes_supported
        .iter()
        .filter(|s| s.as_str() != crate::config::ADMIN_SCOPE)
        .cloned()
        .collect();
    let allowed = client.metadata.scope.as_ref().unwrap_or(&supported);
    let scope = scope
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| state.config.default_scope.intersection(allowed));
    if !scope.is_subset(allowed) {
        return Err(ErrorResponse::invalid_scope(format!(
            "scope not allowed for this client: {}",
            scope.difference(allowed)
        ))
        .into());
    }
    // Without a `resource`, a client limited to one resource gets a token
    // for it.
    let resource = match (resource, client.policy.resources.as_slice()) {
        (Some(r), _) => Some(r.as_str().to_owned()),
        (None, [only]) => Some(only.clone()),
        (None, _) => None,
    };
    let t = state.clock.now();
    access_token(
        state,
        Grant {
            client,
            subject: &client.client_id,
            scope: &scope,
            resource: resource.as_deref(),
            auth_time: t,
            extra: BTreeMap::new(),
            person: false,
        },
        &random_id()?,
        t,
    )
}
