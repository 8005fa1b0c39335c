//! The JWT authorization grant (RFC 7523 §2.1) with Identity Assertion
//! JWT Authorization Grants (ID-JAG) from the enterprise identity providers
//! the operator trusts (MCP enterprise-managed authorization, §5).
//!
//! The order of the checks, each refusal a precise answer:
//! 1. the client: one the operator created, confidential (`unauthorized_client`);
//! 2. the JOSE header, the issuer and the signature ([`assertion`]);
//! 3. [`IdJagClaims::check`](mcp_oauth_core::exchange::IdJagClaims::check):
//!    `aud` is our issuer, `client_id` the authenticated client, `resource`
//!    a resource URI, the times with the provider's leeway and lifetime;
//! 4. the provider trusts this client, and the resource is served for the
//!    client and allowed for the provider;
//! 5. the person ([`crate::federation::trusted_idp`]'s mapping; an existing
//!    local user with `local_users`), whose grants were not revoked since
//!    the assertion was issued;
//! 6. the scope ([`scope`]), then the `jti` (at most [`MAX_JTI`] bytes),
//!    recorded once in storage under the provider's name and the `jti`'s
//!    hash (atomic across instances: of a burst of copies, one gets
//!    through).
//!
//! The answer is an access token only: no refresh token (the client asks
//! its identity provider for a new grant) and no ID token. The grant is
//! recorded (method `jwt_bearer`) for the person, the client and the
//! resource, like an approval: the person's account page and the
//! operator's `grant list` show it, and revoking it (`grant revoke`, the
//! account page, removing the client) makes the tokens issued under it
//! inactive at introspection.

mod assertion;
mod scope;

use std::collections::BTreeMap;

use mcp_oauth_core::ErrorCode;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::exchange::IdJagExpectations;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{SecurityToken, token_hash};
use mcp_oauth_core::token::TokenResponse;

use super::GrantContext;
use super::issue::{Grant, access_token, random_id, resource_allowed};
use crate::config::ADMIN_SCOPE;
use crate::federation::trusted_idp::{IdpKeyError, map_subject};
use crate::oauth::audit::AuditKind;
use crate::oauth::error::OAuthResult;
use crate::storage::{ClientRecord, GrantRecord, SignInMethod};
use assertion::AssertionError;
use scope::ScopeLimits;

/// Longest `jti` accepted, in bytes (longer: `invalid_grant`).
pub(crate) const MAX_JTI: usize = 255;

fn unauthorized(description: &str) -> ErrorResponse {
    ErrorResponse::new(ErrorCode::UnauthorizedClient).with_description(description)
}

impl From<AssertionError> for ErrorResponse {
    fn from(e: AssertionError) -> Self {
        match e {
            AssertionError::Key(IdpKeyError::Unavailable(_)) => ErrorResponse::new(
                ErrorCode::TemporarilyUnavailable,
            )
            .with_description("the identity provider's keys could not be fetched; try again later"),
            other => ErrorResponse::invalid_grant(other.to_string()),
        }
    }
}

/// Whether the grant is served: only with a trusted provider configured
/// (else `unsupported_grant_type`, as for a grant this server does not
/// know).
pub(crate) fn offered(state: &GrantContext<'_>) -> OAuthResult<()> {
    if state.trusted_idps.is_empty() {
        return Err(ErrorResponse::new(ErrorCode::UnsupportedGrantType)
            .with_description("no identity provider is trusted for JWT authorization grants")
            .into());
    }
    Ok(())
}

/// Issues an access token (never a refresh token: the client exchanges a
/// new grant at its identity provider) for the person an ID-JAG names.
pub(crate) async fn issue(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    jwt: &SecurityToken,
    requested: Option<ScopeSet>,
) -> OAuthResult<TokenResponse> {
    offered(state)?;
    if !client.is_trusted() {
        return Err(unauthorized(
            "identity assertion grants are only for clients the operator created",
        )
        .into());
    }
    if !client.is_confidential() {
        return Err(unauthorized(
            "identity assertion grants need a confidential client (client authentication)",
        )
        .into());
    }
    let verified = assertion::verify(state.trusted_idps, jwt.secret())
        .await
        .map_err(ErrorResponse::from)?;
    let idp = &verified.idp.config;
    let claims = &verified.claims;
    let now = state.clock.now();
    claims
        .check(&IdJagExpectations {
            issuer: state.config.issuer.as_str(),
            client_id: &client.client_id,
            now,
            leeway: idp.leeway,
            max_lifetime: idp.max_lifetime,
        })
        .map_err(ErrorResponse::from)?;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
        return Err(ErrorResponse::invalid_grant(format!(
            "the assertion's jti must be 1 to {MAX_JTI} bytes"
        ))
        .into());
    }
    if !idp.clients.contains(&client.client_id) {
        return Err(ErrorResponse::invalid_grant(
            "this client may not present this identity provider's grants",
        )
        .into());
    }
    let resource = claims.resource_uri().map_err(ErrorResponse::from)?;
    if !resource_allowed(state.config, client, &resource) {
        return Err(ErrorResponse::invalid_grant(
            "the assertion's resource is not served by this server for this client",
        )
        .into());
    }
    let limits = idp.resource_list();
    if !limits.is_empty() && !limits.iter().any(|r| r.matches(resource.as_str())) {
        return Err(ErrorResponse::invalid_grant(
            "the assertion's resource is not allowed for this identity provider",
        )
        .into());
    }
    let person =
        map_subject(idp, claims).map_err(|e| ErrorResponse::invalid_grant(e.to_string()))?;
    if idp.local_users && state.storage.user(&person.value).await?.is_none() {
        return Err(ErrorResponse::invalid_grant(format!(
            "no local user matches the assertion's {} claim",
            idp.subject_claim
        ))
        .into());
    }
    // `user revoke` (and a password change or removal) ends what the person
    // holds: a grant issued before it is refused, as introspection refuses
    // the tokens issued before it.
    let revoked_at = state.storage.subject(&person.subject).await?.revoked_at;
    let grant_revoked_at = state
        .storage
        .grant_revoked_at(&person.subject, &client.client_id, resource.as_str())
        .await?;
    if revoked_at.max(grant_revoked_at) >= claims.iat {
        return Err(ErrorResponse::invalid_grant(
            "the person's grants were revoked after this assertion was issued",
        )
        .into());
    }
    let allowed: ScopeSet = client
        .metadata
        .scope
        .clone()
        .unwrap_or_else(|| state.config.advertised_scopes().into_iter().collect())
        .iter()
        .filter(|s| *s != ADMIN_SCOPE)
        .map(str::to_owned)
        .collect();
    let cap = idp.scope_cap();
    let requested = requested.filter(|s| !s.is_empty());
    let scope = scope::decide(&ScopeLimits {
        requested: requested.as_ref(),
        asserted: claims.scope.as_ref(),
        allowed: &allowed,
        cap: cap.as_ref(),
        default: &state.config.default_scope,
    })?;
    // Last, so that a refused request does not spend the grant: one
    // atomic insert-if-absent, kept until the grant could no longer pass.
    // The provider's name has no ':' and the hash a fixed length, so no
    // two providers' keys can meet.
    let once = format!("idjag:{}:{}", idp.name, token_hash(&claims.jti));
    if !state
        .storage
        .use_once(&once, claims.exp.saturating_add(idp.leeway))
        .await?
    {
        tracing::warn!(idp = %idp.name, client_id = %client.client_id,
            "an identity assertion grant was presented again");
        return Err(ErrorResponse::invalid_grant("the assertion was already used (jti)").into());
    }
    let mut extra = BTreeMap::new();
    if let Some(email) = &person.verified_email {
        extra.insert("email".to_owned(), serde_json::Value::from(email.as_str()));
    }
    let auth_time = claims
        .extra
        .get("auth_time")
        .and_then(serde_json::Value::as_u64)
        .filter(|t| *t <= now)
        .unwrap_or(claims.iat.min(now));
    let response = access_token(
        state,
        Grant {
            client,
            subject: &person.subject,
            scope: &scope,
            resource: Some(resource.as_str()),
            auth_time,
            extra,
            person: true,
        },
        &random_id()?,
        now,
    )?;
    state
        .storage
        .record_grant(GrantRecord::new(
            &person.subject,
            &client.client_id,
            Some(resource.as_str()),
            scope.to_sorted_string(),
            SignInMethod::JwtBearer,
            now,
        ))
        .await?;
    state
        .audit
        .record(
            AuditKind::IdJagAccepted
                .entry()
                .client(&client.client_id)
                .subject(&person.subject)
                .detail("idp", idp.name.as_str())
                .detail("jti", claims.jti.as_str())
                .detail("resource", resource.as_str())
                .detail("scope", scope.to_sorted_string()),
        )
        .await;
    Ok(response)
}
