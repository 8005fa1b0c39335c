//! The refresh token grant: rotation on every use with reuse detection
//! that ends the family (RFC 9700 §4.14.2), and a grace window in which a
//! client retrying a lost answer receives the same successor, so the chain
//! never forks (see [`crate::storage::policy`] and `crate::refresh_seal`).

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{RefreshToken, token_hash};
use mcp_oauth_core::token::TokenResponse;

use super::issue::{Grant, access_token, new_refresh, random_id, refresh_expiry};
use super::{GrantContext, federated_claims, grant_live, subject_live};
use crate::oauth::audit::AuditKind;
use crate::oauth::error::OAuthResult;
use crate::oauth::oidc::id_token::{self, IdTokenGrant};
use crate::refresh_seal;
use crate::storage::{ClientRecord, RefreshRotation};

fn invalid() -> ErrorResponse {
    ErrorResponse::invalid_grant("refresh token is invalid, expired or revoked")
}

/// Refreshes for `client`; `scope` may narrow the access token's scope.
pub(crate) async fn refresh(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    presented: &RefreshToken,
    scope: Option<ScopeSet>,
    resource: Option<&ResourceUri>,
) -> OAuthResult<TokenResponse> {
    let hash = token_hash(presented.secret());
    let current = state.storage.refresh(&hash).await?.ok_or_else(invalid)?;
    if current.client_id != client.client_id {
        return Err(
            ErrorResponse::invalid_grant("refresh token was issued to another client").into(),
        );
    }
    let granted = ScopeSet::parse_lossy(&current.scope);
    let scope = match scope {
        Some(s) if !s.is_subset(&granted) => {
            return Err(ErrorResponse::invalid_scope(format!(
                "scope exceeds the original grant: {}",
                s.difference(&granted)
            ))
            .into());
        }
        Some(s) if !s.is_empty() => s,
        _ => granted,
    };
    if let (Some(asked), Some(bound)) = (resource, &current.resource)
        && !asked.matches(bound)
    {
        return Err(
            ErrorResponse::invalid_target("resource differs from the original grant").into(),
        );
    }
    subject_live(state, &current.subject, current.subject_generation).await?;
    // A revocation of the grant ends the family even when it raced the
    // family's creation (the family was stored after the revocation
    // revoked the grant's families).
    grant_live(
        state,
        &current.subject,
        &current.client_id,
        current.resource.as_deref(),
        current.approved_at,
    )
    .await?;
    let extra = federated_claims(state, &current.subject).await?;
    let t = state.clock.now();
    let Some(expires_at) = refresh_expiry(state, current.auth_time, t) else {
        return Err(ErrorResponse::invalid_grant(
            "the grant has reached its maximum lifetime; the user must sign in again",
        )
        .into());
    };
    // RFC 6749 §6: the successor keeps the grant's scope; only the access
    // token is narrowed.
    let successor = new_refresh(&current, &current.family_id, expires_at)?;
    let sealed = refresh_seal::seal(successor.token.secret(), presented.secret())
        .ok_or_else(|| ErrorResponse::server_error("could not seal the successor"))?;
    let grace = state.config.refresh_grace.as_secs();
    let refresh_token = match state
        .storage
        .rotate_refresh(&hash, successor.record, sealed, t, grace)
        .await?
    {
        RefreshRotation::Rotated(_) => {
            let entry = AuditKind::RefreshRotated.entry().client(&client.client_id);
            state.audit.record(entry.subject(&current.subject)).await;
            successor.token
        }
        RefreshRotation::Repeated {
            sealed_successor, ..
        } => refresh_seal::open(&sealed_successor, presented.secret())
            .map(RefreshToken::new)
            .ok_or_else(invalid)?,
        RefreshRotation::Reused(r) => {
            state.metrics.refresh_reuse.inc();
            tracing::warn!(client_id = ?r.client_id, "refresh token reuse; family revoked");
            let entry = AuditKind::RefreshReuseDetected.entry().client(&r.client_id);
            state.audit.record(entry.subject(&r.subject)).await;
            return Err(ErrorResponse::invalid_grant(
                "refresh token was already used; the grant is revoked",
            )
            .into());
        }
        RefreshRotation::Invalid => return Err(invalid().into()),
    };
    let mut response = access_token(
        state,
        Grant {
            client,
            subject: &current.subject,
            scope: &scope,
            resource: current.resource.as_deref(),
            auth_time: current.auth_time,
            extra,
            person: true,
        },
        &random_id()?,
        t,
    )?;
    response.refresh_token = Some(refresh_token);
    // OIDC Core 1.0 §12.2: a fresh ID token for the same person and
    // client, with the original authentication time and no nonce.
    let grant = IdTokenGrant {
        subject: &current.subject,
        client_id: &client.client_id,
        scope: &scope,
        auth_time: current.auth_time,
        nonce: None,
    };
    id_token::attach(state, grant, &mut response, t).await?;
    Ok(response)
}
