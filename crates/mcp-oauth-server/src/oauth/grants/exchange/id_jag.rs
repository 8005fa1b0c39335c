//! This server as an enterprise identity provider: exchanges an ID token it
//! issued to a client for an Identity Assertion JWT Authorization Grant
//! (ID-JAG) addressed to another authorization server, when the operator's
//! policy allows that client, audience and resource (MCP
//! enterprise-managed authorization, §4).
//!
//! Refusals (RFC 8693 §2.2.2): a missing `audience` or `resource`, another
//! `subject_token_type`, an `actor_token`, or an ID token that is not a
//! live one of ours for this client: `invalid_request`. An audience,
//! resource or client the policy does not list: `invalid_target` (the
//! server is unwilling to issue a token for that target). A scope beyond
//! the policy's cap: `invalid_scope`.

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::exchange::{ID_JAG_JWT_TYPE, IdJagClaims, TokenTypeId};
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::AccessToken;
use mcp_oauth_core::token::{Audience, TokenResponse, TokenType};
use serde::Deserialize;

use super::{ExchangeRequest, capped_scope, no_actor_token, person_live};
use crate::exchange_config::IdJagAudience;
use crate::oauth::audit::AuditKind;
use crate::oauth::error::OAuthResult;
use crate::oauth::grants::GrantContext;
use crate::oauth::grants::issue::random_id;
use crate::oauth::oidc::claims::person_claims;
use crate::oauth::oidc::id_token::ID_TOKEN_TYP;
use crate::storage::ClientRecord;

/// What is read of a presented ID token once its signature, `typ`, `iss`
/// and `exp` are verified.
#[derive(Debug, Deserialize)]
struct PresentedIdToken {
    sub: String,
    aud: Audience,
    iat: u64,
    exp: u64,
}

/// Issues an ID-JAG for the person of the presented ID token.
pub(crate) async fn issue(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    request: ExchangeRequest<'_>,
) -> OAuthResult<TokenResponse> {
    no_actor_token(&request)?;
    if *request.subject_token_type != TokenTypeId::IdToken {
        return Err(ErrorResponse::invalid_request(format!(
            "an ID-JAG is issued for an ID token (subject_token_type {}), not {}",
            TokenTypeId::IdToken.as_str(),
            request.subject_token_type.as_str()
        ))
        .into());
    }
    let audience = request.audience.filter(|a| !a.is_empty()).ok_or_else(|| {
        ErrorResponse::invalid_request("audience (the target authorization server) is required")
    })?;
    let resource = request.resource.as_ref().ok_or_else(|| {
        ErrorResponse::invalid_request("resource (the target MCP server) is required")
    })?;
    let subject = presented_id_token(state, client, request.subject_token.secret()).await?;

    let policy = target_policy(state, audience, resource)?;
    let their_client_id = policy.clients.get(&client.client_id).ok_or_else(|| {
        ErrorResponse::invalid_target(
            "this client may not obtain grants for this authorization server",
        )
    })?;
    let cap = ScopeSet::parse_lossy(&policy.scopes.join(" "));
    let scope = capped_scope(request.scope, &cap)?;

    let contact =
        person_claims(state.storage, &subject.sub, &ScopeSet::parse_lossy("email")).await?;
    let t = state.clock.now();
    let claims = IdJagClaims {
        iss: state.config.issuer.as_str().to_owned(),
        sub: subject.sub.clone(),
        aud: Audience::single(policy.audience.clone()),
        resource: resource.as_str().to_owned(),
        client_id: their_client_id.clone(),
        jti: random_id()?,
        exp: t + policy.lifetime,
        iat: t,
        nbf: None,
        scope: (!scope.is_empty()).then(|| scope.clone()),
        email: contact
            .get("email")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        email_verified: contact.get("email_verified").and_then(|v| v.as_bool()),
        extra: Default::default(),
    };
    let jag = state
        .keys
        .sign_typed(&claims, ID_JAG_JWT_TYPE)
        .map_err(|e| ErrorResponse::server_error(e.to_string()))?;
    let entry = AuditKind::TokenExchanged
        .entry()
        .client(&client.client_id)
        .subject(&subject.sub)
        .detail("issued", TokenTypeId::IdJag.as_str())
        .detail("audience", policy.audience.as_str())
        .detail("resource", resource.as_str())
        .detail("scope", scope.to_string());
    state.audit.record(entry).await;
    let mut response = TokenResponse::bearer(AccessToken::new(jag), policy.lifetime);
    response.token_type = TokenType::NotApplicable;
    response.issued_token_type = Some(TokenTypeId::IdJag);
    response.scope = claims.scope;
    Ok(response)
}

/// The claims of `token` if it is an ID token this server signed (a
/// published key, `typ: JWT`, our `iss`, unexpired) for `client` (`aud`,
/// the extension §4.1) whose person still holds their grants, and whose
/// grant to this client was not revoked since the ID token was issued.
///
/// The ID token names no resource, and grants are kept per (person,
/// client, resource): a revocation of the person's grant to this client
/// for any resource (on their account page, by `grant revoke`, or by
/// removing the client) at or after the ID token's `iat` refuses it. The
/// client signs the person in again to obtain new grants.
async fn presented_id_token(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    token: &str,
) -> OAuthResult<PresentedIdToken> {
    let claims: PresentedIdToken = state
        .keys
        .verify_typed(token, ID_TOKEN_TYP, &["exp", "iss", "sub", "iat", "aud"])
        .ok_or_else(|| {
            ErrorResponse::invalid_request(
                "subject_token is not a valid, unexpired ID token of this server",
            )
        })?;
    // The signature check reads the system's clock; the server's decides.
    if claims.exp <= state.clock.now() {
        return Err(ErrorResponse::invalid_request("subject_token expired").into());
    }
    if claims.aud.values() != [client.client_id.as_str()] {
        return Err(ErrorResponse::invalid_request(
            "subject_token was issued to another client (aud)",
        )
        .into());
    }
    person_live(state, &claims.sub, claims.iat).await?;
    let revoked = state
        .storage
        .client_grant_revoked_at(&claims.sub, &client.client_id)
        .await?;
    if revoked > 0 && revoked >= claims.iat {
        return Err(ErrorResponse::invalid_request(
            "subject_token was revoked: the person's grant to this client was ended since it \
             was issued",
        )
        .into());
    }
    Ok(claims)
}

/// The operator's policy for `audience` if it allows `resource`;
/// `invalid_target` otherwise.
fn target_policy<'a>(
    state: &'a GrantContext<'_>,
    audience: &str,
    resource: &mcp_oauth_core::resource::ResourceUri,
) -> OAuthResult<&'a IdJagAudience> {
    let policy = state
        .config
        .exchange
        .id_jag_audience(audience)
        .ok_or_else(|| {
            ErrorResponse::invalid_target("no grants are issued for this authorization server")
        })?;
    if !policy.allows_resource(resource) {
        return Err(ErrorResponse::invalid_target(
            "no grants are issued for this resource at this authorization server",
        )
        .into());
    }
    Ok(policy)
}
