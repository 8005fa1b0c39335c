//! The authorization code grant (OAuth 2.1 §4.1.3): the code is checked
//! against everything it is bound to before it is spent, so a failed
//! attempt (another client, a wrong verifier or redirect URI) does not burn
//! the legitimate client's code, and a replay revokes only when it passes
//! the same checks; then the code is spent atomically, recording the
//! `jti` and refresh family it issues, so a replay revokes them even when
//! it races the first redemption.

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{AuthorizationCode, token_hash};
use mcp_oauth_core::token::TokenResponse;

use super::issue::{Approval, person_tokens, random_id};
use super::{GrantContext, federated_claims, grant_live, subject_live};
use crate::oauth::audit::AuditKind;
use crate::oauth::error::OAuthResult;
use crate::oauth::oidc::id_token::{self, IdTokenGrant};
use crate::storage::{ClientRecord, CodeConsumption, IssuedFromCode};

/// Redeems `code` for `client`.
pub(crate) async fn redeem(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    code: &AuthorizationCode,
    redirect_uri: Option<&str>,
    verifier: &PkceVerifier,
    resource: Option<&ResourceUri>,
) -> OAuthResult<TokenResponse> {
    let hash = token_hash(code.secret());
    let Some(stored) = state.storage.code(&hash).await? else {
        return Err(ErrorResponse::invalid_grant("unknown authorization code").into());
    };
    let record = stored.record;
    // Only the client the code was issued to learns anything more about it
    // or can set off the replay defence.
    if record.client_id != client.client_id {
        return Err(ErrorResponse::invalid_grant(
            "authorization code was issued to another client",
        )
        .into());
    }
    let t = state.clock.now();
    if record.expires_at <= t {
        return Err(ErrorResponse::invalid_grant("authorization code expired").into());
    }
    match redirect_uri {
        Some(r) if r != record.redirect_uri => {
            return Err(ErrorResponse::invalid_grant(
                "redirect_uri does not match the authorization request",
            )
            .into());
        }
        None if record.redirect_uri_sent => {
            return Err(ErrorResponse::invalid_request(
                "redirect_uri is required: the authorization request named it",
            )
            .into());
        }
        _ => {}
    }
    let challenge = PkceChallenge::parse(&record.code_challenge, Some("S256"))
        .map_err(|_| ErrorResponse::server_error("stored challenge is invalid"))?;
    challenge
        .verify(verifier.secret())
        .map_err(|e| ErrorResponse::invalid_grant(format!("PKCE verification failed: {e}")))?;
    // A replay sets off the revocation only once it has proved what the
    // first redemption had to: the client, a live code, its redirect URI and
    // the verifier. Someone who merely saw a spent code (history, logs) can
    // not end the person's grant with it.
    if stored.used {
        revoke_issued(state, client, stored.issued).await?;
        return Err(ErrorResponse::invalid_grant("authorization code was already used").into());
    }
    // The audience is what the person approved: the resource of the
    // authorization request, never one chosen afterwards.
    match (resource, &record.resource) {
        (Some(asked), Some(granted)) if !asked.matches(granted) => {
            return Err(ErrorResponse::invalid_target(
                "resource differs from the authorization request",
            )
            .into());
        }
        (Some(_), None) => {
            return Err(ErrorResponse::invalid_target(
                "the authorization request named no resource",
            )
            .into());
        }
        _ => {}
    }
    subject_live(state, &record.subject, record.subject_generation).await?;
    // A code is issued the moment its person approves.
    let approved_at = record
        .expires_at
        .saturating_sub(state.config.code_ttl.as_secs());
    grant_live(
        state,
        &record.subject,
        &client.client_id,
        record.resource.as_deref(),
        approved_at,
    )
    .await?;
    let extra = federated_claims(state, &record.subject).await?;
    let refreshes = client
        .metadata
        .effective_grant_types()
        .contains(&GrantType::RefreshToken);
    let family = if refreshes { Some(random_id()?) } else { None };
    let jti = random_id()?;
    let issued = IssuedFromCode {
        family_id: family.clone(),
        access_jti: jti.clone(),
        access_exp: t + state.config.access_token_ttl.as_secs(),
    };
    match state.storage.consume_code(&hash, issued).await? {
        CodeConsumption::First(_) => {}
        CodeConsumption::Replayed { issued, .. } => {
            revoke_issued(state, client, issued).await?;
            return Err(ErrorResponse::invalid_grant("authorization code was already used").into());
        }
        CodeConsumption::Unknown => {
            return Err(ErrorResponse::invalid_grant("unknown authorization code").into());
        }
    }
    state
        .audit
        .record(
            AuditKind::CodeRedeemed
                .entry()
                .client(&client.client_id)
                .subject(&record.subject)
                .detail("refresh_family", family.is_some()),
        )
        .await;
    let mut response = person_tokens(
        state,
        client,
        Approval {
            subject: &record.subject,
            generation: record.subject_generation,
            scope: &record.scope,
            resource: record.resource.as_deref(),
            auth_time: record.auth_time,
            approved_at,
        },
        extra,
        &jti,
        family,
        t,
    )
    .await?;
    let scope = ScopeSet::parse_lossy(&record.scope);
    let grant = IdTokenGrant {
        subject: &record.subject,
        client_id: &client.client_id,
        scope: &scope,
        auth_time: record.auth_time,
        nonce: record.nonce.as_deref(),
    };
    id_token::attach(state, grant, &mut response, t).await?;
    Ok(response)
}

/// RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: a replayed code revokes what its
/// first redemption issued.
async fn revoke_issued(
    state: &GrantContext<'_>,
    client: &ClientRecord,
    issued: Option<IssuedFromCode>,
) -> OAuthResult<()> {
    if let Some(issued) = issued {
        if let Some(f) = &issued.family_id {
            state.storage.revoke_family(f, state.clock.now()).await?;
        }
        state
            .storage
            .revoke_jti(&issued.access_jti, issued.access_exp)
            .await?;
    }
    state.metrics.code_replays.inc();
    tracing::warn!(client_id = ?client.client_id, "authorization code replayed; its tokens are revoked");
    state
        .audit
        .record(AuditKind::CodeReplayed.entry().client(&client.client_id))
        .await;
    Ok(())
}
