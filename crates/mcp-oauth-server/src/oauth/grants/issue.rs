//! Issuing tokens: the signed access token (RFC 9068 profile) and the
//! records of refresh tokens, with the audience and lifetime rules every
//! grant shares.

use std::collections::BTreeMap;

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{AccessToken, RefreshToken, random_base64url, token_hash};
use mcp_oauth_core::token::{AccessTokenClaims, Audience, TokenResponse};

use super::GrantContext;
use crate::config::{ADMIN_SCOPE, ServerConfig};
use crate::oauth::error::OAuthResult;
use crate::storage::{ClientRecord, RefreshRecord};

/// What an access token says.
pub(crate) struct Grant<'a> {
    /// The client it is issued to.
    pub(crate) client: &'a ClientRecord,
    /// The person (or, without one, the client).
    pub(crate) subject: &'a str,
    /// Its scope.
    pub(crate) scope: &'a ScopeSet,
    /// Its audience, if one was asked.
    pub(crate) resource: Option<&'a str>,
    /// When the person authenticated.
    pub(crate) auth_time: u64,
    /// Further claims (a federated person's e-mail, name, groups).
    pub(crate) extra: BTreeMap<String, serde_json::Value>,
    /// Whether a person approved it (false only for `client_credentials`).
    pub(crate) person: bool,
}

/// Whether tokens a person approves may name `resource`: the server must
/// serve it (its allow-list, when configured) and, for a client the
/// operator limited to some resources, it must be one of them. The admin
/// API's audience is never one (see [`admin_resource_allowed`]).
pub(crate) fn resource_allowed(
    config: &ServerConfig,
    client: &ClientRecord,
    resource: &ResourceUri,
) -> bool {
    if resource.matches(&config.admin_audience()) {
        return false;
    }
    let served = config
        .allowed_resources
        .as_ref()
        .is_none_or(|list| list.iter().any(|r| r.matches(resource.as_str())));
    let limits = &client.policy.resources;
    served && (limits.is_empty() || limits.iter().any(|r| resource.matches(r)))
}

/// Whether a token without a person may name the admin API's audience:
/// only with bearer access to the admin API on, for a trusted client, and
/// within the resources the operator limited the client to, if any.
fn admin_resource_allowed(config: &ServerConfig, client: &ClientRecord) -> bool {
    let audience = config.admin_audience();
    let limits = &client.policy.resources;
    config.admin.bearer_tokens
        && client.is_trusted()
        && (limits.is_empty()
            || limits
                .iter()
                .any(|r| ResourceUri::parse(r).is_ok_and(|r| r.matches(&audience))))
}

/// Whether `client` may ask for `scope` in a grant a person approves:
/// within what it registered, or else what the server supports (with
/// OpenID Connect on, its scopes too), and never [`ADMIN_SCOPE`]; the
/// message names what is not.
pub(crate) fn scope_allowed(
    config: &ServerConfig,
    client: &ClientRecord,
    scope: &ScopeSet,
) -> Result<(), String> {
    if scope.contains(ADMIN_SCOPE) {
        return Err(format!(
            "the {ADMIN_SCOPE} scope is only for the operator's own clients (client_credentials)"
        ));
    }
    let supported: ScopeSet = config.advertised_scopes().into_iter().collect();
    let allowed = client.metadata.scope.as_ref().unwrap_or(&supported);
    let extra = scope.difference(allowed);
    if extra.is_empty() {
        Ok(())
    } else {
        Err(format!("scope not allowed for this client: {extra}"))
    }
}

/// A fresh random identifier (token `jti`, refresh family).
pub(crate) fn random_id() -> OAuthResult<String> {
    random_base64url(16).map_err(|e| ErrorResponse::server_error(e.to_string()).into())
}

/// Signs the access token of `grant` with this `jti` at time `t`; the
/// response carries it, its lifetime and its scope.
pub(crate) fn access_token(
    state: &GrantContext<'_>,
    grant: Grant<'_>,
    jti: &str,
    t: u64,
) -> OAuthResult<TokenResponse> {
    if let Some(r) = grant
        .resource
        .map(ResourceUri::parse)
        .transpose()
        .ok()
        .flatten()
    {
        let allowed = if r.matches(&state.config.admin_audience()) {
            !grant.person && admin_resource_allowed(state.config, grant.client)
        } else {
            resource_allowed(state.config, grant.client, &r)
        };
        if !allowed {
            return Err(ErrorResponse::invalid_target(
                "this resource is not served by this authorization server for this client",
            )
            .into());
        }
    }
    if grant.person && grant.scope.contains(ADMIN_SCOPE) {
        return Err(ErrorResponse::invalid_scope(format!(
            "the {ADMIN_SCOPE} scope is only for the operator's own clients (client_credentials)"
        ))
        .into());
    }
    let ttl = state.config.access_token_ttl.as_secs();
    let aud = match (grant.resource, &state.config.allowed_resources) {
        (Some(r), _) => r.to_owned(),
        (None, Some(list)) if list.len() == 1 => list[0].as_str().to_owned(),
        (None, _) => state.config.issuer.as_str().to_owned(),
    };
    let claims = AccessTokenClaims {
        iss: state.config.issuer.as_str().to_owned(),
        sub: grant.subject.to_owned(),
        aud: Audience::single(aud),
        client_id: grant.client.client_id.clone(),
        exp: t + ttl,
        iat: t,
        jti: jti.to_owned(),
        nbf: None,
        scope: (!grant.scope.is_empty()).then(|| grant.scope.clone()),
        auth_time: Some(grant.auth_time),
        extra: grant.extra,
    };
    let access = state
        .keys
        .sign(&claims)
        .map_err(|e| ErrorResponse::server_error(e.to_string()))?;
    let mut response = TokenResponse::bearer(AccessToken::new(access), ttl);
    response.scope = claims.scope;
    Ok(response)
}

/// When a refresh token issued at `t` for a person who authenticated at
/// `auth_time` expires: the refresh lifetime, but never past the grant's
/// maximum lifetime. `None` when the grant has reached it.
pub(crate) fn refresh_expiry(state: &GrantContext<'_>, auth_time: u64, t: u64) -> Option<u64> {
    let end = auth_time.saturating_add(state.config.grant_max_lifetime.as_secs());
    let expiry = t
        .saturating_add(state.config.refresh_token_ttl.as_secs())
        .min(end);
    (expiry > t).then_some(expiry)
}

/// A new refresh token and its record.
pub(crate) struct NewRefresh {
    /// The token, for the response.
    pub(crate) token: RefreshToken,
    /// What storage keeps (its hash, never the token).
    pub(crate) record: RefreshRecord,
}

/// A fresh refresh token of `family`, carrying the grant's person, scope
/// and audience.
pub(crate) fn new_refresh(
    template: &RefreshRecord,
    family: &str,
    expires_at: u64,
) -> OAuthResult<NewRefresh> {
    let token = RefreshToken::generate().map_err(|e| ErrorResponse::server_error(e.to_string()))?;
    let record = RefreshRecord {
        token_hash: token_hash(token.secret()),
        family_id: family.to_owned(),
        expires_at,
        rotated_at: None,
        ..template.clone()
    };
    Ok(NewRefresh { token, record })
}

/// What a person approved, as a code or a device authorization records it.
pub(crate) struct Approval<'a> {
    /// Who.
    pub(crate) subject: &'a str,
    /// Their subject generation when they signed in.
    pub(crate) generation: u64,
    /// The scope approved.
    pub(crate) scope: &'a str,
    /// The resource approved, if any.
    pub(crate) resource: Option<&'a str>,
    /// When they signed in.
    pub(crate) auth_time: u64,
    /// When they approved.
    pub(crate) approved_at: u64,
}

/// The tokens of a person's grant to `client` at `t`: the access token
/// `jti` and, with a `family` (the client may refresh) and time left in the
/// grant, a refresh token of that family, stored.
pub(crate) async fn person_tokens(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    approval: Approval<'_>,
    extra: BTreeMap<String, serde_json::Value>,
    jti: &str,
    family: Option<String>,
    t: u64,
) -> OAuthResult<TokenResponse> {
    let scope = ScopeSet::parse_lossy(approval.scope);
    let mut response = access_token(
        state,
        Grant {
            client,
            subject: approval.subject,
            scope: &scope,
            resource: approval.resource,
            auth_time: approval.auth_time,
            extra,
            person: true,
        },
        jti,
        t,
    )?;
    if let Some(family) = family
        && let Some(expires_at) = refresh_expiry(state, approval.auth_time, t)
    {
        let template = RefreshRecord {
            token_hash: String::new(),
            family_id: family.clone(),
            client_id: client.client_id.clone(),
            subject: approval.subject.to_owned(),
            subject_generation: approval.generation,
            scope: approval.scope.to_owned(),
            resource: approval.resource.map(str::to_owned),
            auth_time: approval.auth_time,
            approved_at: approval.approved_at,
            expires_at,
            rotated_at: None,
        };
        let fresh = new_refresh(&template, &family, expires_at)?;
        state.storage.insert_refresh(fresh.record).await?;
        response.refresh_token = Some(fresh.token);
    }
    Ok(response)
}
