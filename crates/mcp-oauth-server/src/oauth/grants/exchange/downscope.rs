//! Exchanges one of our access tokens for a narrower one of ours, for a
//! downstream resource, recording the exchanging client in an RFC 8693
//! `act` chain: an MCP server (a trusted, confidential client) that
//! received a person's token calls another MCP server as that person.
//!
//! The operator's `[[token_exchange]]` policy of the exchanging client
//! decides: the presented token's audience must be among its `from`, the
//! target (`resource`, or `audience` naming one) among its `to`, and the
//! scope within the presented token's, and the policy's cap. Unless the
//! policy says otherwise, the person must also hold a live grant of the
//! downstream resource to the client they signed in with.
//!
//! The new token keeps the person (`sub`) and the client they signed in
//! with (`client_id`, so that their grant keeps governing it: revoking it
//! ends the token at introspection), names the exchanging client in `act`
//! (nesting the presented token's chain, at most [`MAX_ACTOR_DEPTH`]
//! deep), expires no later than the presented token, and comes without a
//! refresh token.

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::exchange::{ActorClaim, TokenTypeId};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::AccessToken;
use mcp_oauth_core::token::{AccessTokenClaims, Audience, TokenResponse};

use super::{ExchangeRequest, capped_scope, no_actor_token, not_configured, person_live};
use crate::config::ADMIN_SCOPE;
use crate::exchange_config::TokenExchangePolicy;
use crate::oauth::audit::AuditKind;
use crate::oauth::error::OAuthResult;
use crate::oauth::grants::GrantContext;
use crate::oauth::grants::introspection::live;
use crate::oauth::grants::issue::random_id;
use crate::storage::{ClientRecord, GrantFilter};

/// The longest `act` chain a token may carry: the person's client and
/// four resource servers, each calling the next.
pub(crate) const MAX_ACTOR_DEPTH: usize = 4;

/// Issues the narrower token.
pub(crate) async fn exchange(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    request: ExchangeRequest<'_>,
) -> OAuthResult<TokenResponse> {
    no_actor_token(&request)?;
    if *request.subject_token_type != TokenTypeId::AccessToken {
        return Err(ErrorResponse::invalid_request(format!(
            "an access token is issued for an access token of this server \
             (subject_token_type {}), not {}",
            TokenTypeId::AccessToken.as_str(),
            request.subject_token_type.as_str()
        ))
        .into());
    }
    let policies: Vec<&TokenExchangePolicy> = state
        .config
        .exchange
        .exchanges_of(&client.client_id)
        .collect();
    if policies.is_empty() {
        return Err(not_configured("exchanging access tokens for this client"));
    }
    let subject = presented_access_token(state, request.subject_token.secret()).await?;
    let federated = person_live(state, &subject.sub, subject.iat).await?;
    let policies: Vec<&TokenExchangePolicy> = policies
        .into_iter()
        .filter(|p| p.accepts_from(&subject.aud))
        .collect();
    if policies.is_empty() {
        return Err(ErrorResponse::invalid_request(
            "subject_token is for a resource this client may not exchange tokens of",
        )
        .into());
    }
    let target = target(&request)?;
    let policy = policies
        .into_iter()
        .find(|p| p.target(&target).is_some())
        .filter(|_| served(state, &target))
        .ok_or_else(|| {
            ErrorResponse::invalid_target("this client may not obtain tokens for this resource")
        })?;

    let mut cap = subject.scopes();
    if let Some(limit) = &policy.scopes {
        cap = cap.intersection(&ScopeSet::parse_lossy(&limit.join(" ")));
    }
    let scope = capped_scope(request.scope, &cap)?;
    if scope.is_empty() || scope.contains(ADMIN_SCOPE) {
        return Err(ErrorResponse::invalid_scope(
            "no scope of the presented token may be passed on to this resource",
        )
        .into());
    }

    let previous = subject
        .extra
        .get("act")
        .map(|v| serde_json::from_value::<ActorClaim>(v.clone()))
        .transpose()
        .map_err(|_| ErrorResponse::invalid_request("subject_token carries a malformed act"))?;
    let act = ActorClaim::new(client.client_id.clone(), previous);
    if act.depth() > MAX_ACTOR_DEPTH {
        return Err(ErrorResponse::invalid_request(format!(
            "the chain of actors would exceed {MAX_ACTOR_DEPTH}"
        ))
        .into());
    }

    let t = state.clock.now();
    if policy.require_grant {
        let filter = GrantFilter::subject(&subject.sub)
            .client(&subject.client_id)
            .resource(target.as_str());
        if state.storage.grants(&filter, t).await?.is_empty() {
            return Err(ErrorResponse::invalid_target(
                "the person has not granted this resource to the client they signed in with",
            )
            .into());
        }
    }

    let mut extra = federated;
    extra.insert(
        "act".to_owned(),
        serde_json::to_value(&act).map_err(|e| ErrorResponse::server_error(e.to_string()))?,
    );
    let exp = (t + state.config.access_token_ttl.as_secs()).min(subject.exp);
    let claims = AccessTokenClaims {
        iss: state.config.issuer.as_str().to_owned(),
        sub: subject.sub.clone(),
        aud: Audience::single(target.as_str()),
        client_id: subject.client_id.clone(),
        exp,
        iat: t,
        jti: random_id()?,
        nbf: None,
        scope: Some(scope.clone()),
        auth_time: subject.auth_time,
        extra,
    };
    let token = state
        .keys
        .sign(&claims)
        .map_err(|e| ErrorResponse::server_error(e.to_string()))?;
    let entry = AuditKind::TokenExchanged
        .entry()
        .client(&client.client_id)
        .about_client(&subject.client_id)
        .subject(&subject.sub)
        .detail("issued", TokenTypeId::AccessToken.as_str())
        .detail("from", subject.aud.values().join(" "))
        .detail("resource", target.as_str())
        .detail("scope", scope.to_string())
        .detail("actors", act.depth());
    state.audit.record(entry).await;
    let mut response = TokenResponse::bearer(AccessToken::new(token), exp.saturating_sub(t));
    response.scope = Some(scope);
    response.issued_token_type = Some(TokenTypeId::AccessToken);
    Ok(response)
}

/// The claims of `token` if it is a live access token of this server
/// (signature, `typ`, `iss`, `exp`, not revoked, issued after its grant
/// and person were last ended, as introspection decides) for a person.
async fn presented_access_token(
    state: &GrantContext<'_>,
    token: &str,
) -> OAuthResult<AccessTokenClaims> {
    let claims = state.keys.verify(token).ok_or_else(|| {
        ErrorResponse::invalid_request(
            "subject_token is not a valid, unexpired access token of this server",
        )
    })?;
    // The signature check reads the system's clock; the server's decides.
    if claims.exp <= state.clock.now() {
        return Err(ErrorResponse::invalid_request("subject_token expired").into());
    }
    if !live(state.storage, &claims).await? {
        return Err(ErrorResponse::invalid_request("subject_token was revoked").into());
    }
    // A token of the client credentials grant names the client itself:
    // there is no person to act for.
    if claims.sub == claims.client_id {
        return Err(ErrorResponse::invalid_request(
            "subject_token was issued to a client for itself, not for a person",
        )
        .into());
    }
    Ok(claims)
}

/// The resource asked for: `resource`, or `audience` naming one (both:
/// they must agree); `invalid_request` without either.
fn target(request: &ExchangeRequest<'_>) -> OAuthResult<ResourceUri> {
    let audience = request
        .audience
        .map(|a| {
            ResourceUri::parse(a).map_err(|e| {
                ErrorResponse::invalid_target(format!("audience is not a resource URI: {e}"))
            })
        })
        .transpose()?;
    match (request.resource.clone(), audience) {
        (Some(r), Some(a)) if !r.matches(a.as_str()) => Err(ErrorResponse::invalid_target(
            "resource and audience name different resources",
        )
        .into()),
        (Some(r), _) | (None, Some(r)) => Ok(r),
        (None, None) => Err(ErrorResponse::invalid_request(
            "resource (or audience) naming the downstream resource is required",
        )
        .into()),
    }
}

/// Whether this server issues tokens for `resource` at all: never the
/// admin API's audience, and within its allow-list when configured.
fn served(state: &GrantContext<'_>, resource: &ResourceUri) -> bool {
    !resource.matches(&state.config.admin_audience())
        && state
            .config
            .allowed_resources
            .as_ref()
            .is_none_or(|list| list.iter().any(|r| r.matches(resource.as_str())))
}
