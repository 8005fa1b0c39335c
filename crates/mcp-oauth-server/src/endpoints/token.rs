//! `POST /token`: authorization code (with PKCE), refresh token (rotation
//! with reuse detection), client credentials.

use std::collections::BTreeMap;

use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::pkce::PkceChallenge;
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{AccessToken, RefreshToken, random_base64url, token_hash};
use mcp_oauth_core::token::{AccessTokenClaims, Audience, TokenGrant, TokenRequest, TokenResponse};

use super::authorize::resource_allowed;
use super::{authenticate_client, decode_form};
use crate::app::{AppState, now};
use crate::federation::{admit, token_claims};
use crate::http_error::OAuthResult;
use crate::storage::{
    ClientRecord, CodeConsumption, IssuedFromCode, RefreshRecord, RefreshRotation,
};

pub(super) async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let request: TokenRequest = decode_form(&body, "token")?;
    let client = authenticate_client(&state, &req, &request.client).await?;
    let grant = request.grant()?;
    let allowed = client.metadata.effective_grant_types();
    let needs = |g: GrantType| -> OAuthResult<()> {
        if allowed.contains(&g) {
            Ok(())
        } else {
            Err(
                ErrorResponse::new(mcp_oauth_core::ErrorCode::UnauthorizedClient)
                    .with_description(format!("this client may not use the {g} grant"))
                    .into(),
            )
        }
    };
    let grant_name = request.grant_type.as_str().to_owned();
    let response = match grant {
        TokenGrant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            resource,
        } => {
            needs(GrantType::AuthorizationCode)?;
            let code_hash = token_hash(code.secret());
            let record = match state.storage.consume_code(&code_hash).await? {
                CodeConsumption::First(r) => r,
                CodeConsumption::Replayed { issued, .. } => {
                    // RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: revoke what the
                    // first redemption produced.
                    if let Some(issued) = issued {
                        if let Some(f) = &issued.family_id {
                            state.storage.revoke_family(f).await?;
                        }
                        state
                            .storage
                            .revoke_jti(&issued.access_jti, issued.access_exp)
                            .await?;
                    }
                    state.metrics.code_replays.inc();
                    tracing::warn!(client_id = %client.client_id, "authorization code replayed; its tokens are revoked");
                    return Err(ErrorResponse::invalid_grant(
                        "authorization code was already used",
                    )
                    .into());
                }
                CodeConsumption::Unknown => {
                    return Err(ErrorResponse::invalid_grant("unknown authorization code").into());
                }
            };
            let t = now();
            if record.client_id != client.client_id {
                return Err(ErrorResponse::invalid_grant(
                    "authorization code was issued to another client",
                )
                .into());
            }
            if record.expires_at <= t {
                return Err(ErrorResponse::invalid_grant("authorization code expired").into());
            }
            if redirect_uri.is_some_and(|r| r != record.redirect_uri) {
                return Err(ErrorResponse::invalid_grant(
                    "redirect_uri does not match the authorization request",
                )
                .into());
            }
            let challenge = PkceChallenge::parse(&record.code_challenge, Some("S256"))
                .map_err(|_| ErrorResponse::server_error("stored challenge is invalid"))?;
            challenge.verify(code_verifier.secret()).map_err(|e| {
                ErrorResponse::invalid_grant(format!("PKCE verification failed: {e}"))
            })?;
            let resource = match (resource, &record.resource) {
                (Some(asked), Some(granted)) if !asked.matches(granted) => {
                    return Err(ErrorResponse::invalid_target(
                        "resource differs from the authorization request",
                    )
                    .into());
                }
                (Some(asked), None) => Some(asked.as_str().to_owned()),
                (_, granted) => granted.clone(),
            };
            let scope = ScopeSet::parse_lossy(&record.scope);
            let family = if allowed.contains(&GrantType::RefreshToken) {
                Some(random_base64url(16).map_err(|e| ErrorResponse::server_error(e.to_string()))?)
            } else {
                None
            };
            let extra = federated_claims(&state, &record.subject).await?;
            let (response, jti, exp) = issue(
                &state,
                &client,
                &record.subject,
                &scope,
                resource.as_deref(),
                record.auth_time,
                family.as_deref(),
                None,
                extra,
            )
            .await?;
            state
                .storage
                .record_code_issuance(
                    &code_hash,
                    IssuedFromCode {
                        family_id: family,
                        access_jti: jti,
                        access_exp: exp,
                    },
                )
                .await?;
            response
        }
        TokenGrant::RefreshToken {
            refresh_token,
            scope,
            resource,
        } => {
            needs(GrantType::RefreshToken)?;
            let hash = token_hash(refresh_token.secret());
            let invalid =
                || ErrorResponse::invalid_grant("refresh token is invalid, expired or revoked");
            let current = state.storage.refresh(&hash).await?.ok_or_else(invalid)?;
            if current.client_id != client.client_id {
                return Err(ErrorResponse::invalid_grant(
                    "refresh token was issued to another client",
                )
                .into());
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
            if let (Some(asked), Some(bound)) = (&resource, &current.resource)
                && !asked.matches(bound)
            {
                return Err(ErrorResponse::invalid_target(
                    "resource differs from the original grant",
                )
                .into());
            }
            let extra = federated_claims(&state, &current.subject).await?;
            let (response, _, _) = issue(
                &state,
                &client,
                &current.subject,
                &scope,
                current.resource.as_deref(),
                current.auth_time,
                Some(&current.family_id),
                Some(&hash),
                extra,
            )
            .await?;
            response
        }
        TokenGrant::ClientCredentials { scope, resource } => {
            needs(GrantType::ClientCredentials)?;
            if !client.is_confidential() {
                return Err(
                    ErrorResponse::new(mcp_oauth_core::ErrorCode::UnauthorizedClient)
                        .with_description("client_credentials needs a confidential client")
                        .into(),
                );
            }
            let scope = scope
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| state.config.default_scope.clone());
            let supported: ScopeSet = state.config.scopes_supported.iter().cloned().collect();
            if !scope.is_subset(client.metadata.scope.as_ref().unwrap_or(&supported)) {
                return Err(
                    ErrorResponse::invalid_scope("scope not allowed for this client").into(),
                );
            }
            let resource = resource.map(|r| r.as_str().to_owned());
            let (response, _, _) = issue(
                &state,
                &client,
                &client.client_id,
                &scope,
                resource.as_deref(),
                now(),
                None,
                None,
                BTreeMap::new(),
            )
            .await?;
            response
        }
        _ => {
            return Err(ErrorResponse::new(mcp_oauth_core::ErrorCode::UnsupportedGrantType).into());
        }
    };
    state.metrics.issued(&grant_name);
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(response))
}

/// For a person who signed in upstream: the claims their access tokens
/// carry. Checked at every code redemption and refresh, so removing the
/// provider or tightening its allow-lists ends their refreshes too.
async fn federated_claims(
    state: &AppState,
    subject: &str,
) -> OAuthResult<BTreeMap<String, serde_json::Value>> {
    let Some((provider, _)) = subject.split_once(':') else {
        return Ok(BTreeMap::new());
    };
    let Some(who) = state.storage.identity(subject).await? else {
        return Ok(BTreeMap::new());
    };
    let upstream = state
        .federation
        .get(provider)
        .filter(|_| who.provider == provider)
        .ok_or_else(|| {
            ErrorResponse::invalid_grant(
                "the identity provider of this grant is no longer configured",
            )
        })?;
    admit(upstream, &who).map_err(|e| {
        tracing::info!(%subject, error = %e, "federated grant no longer admitted");
        ErrorResponse::invalid_grant("the account is no longer allowed on this server")
    })?;
    Ok(token_claims(upstream, &who))
}

/// Issues an access token and, with a family, a refresh token. With
/// `rotating`, the refresh token replaces that one (atomically, with reuse
/// detection). Returns the response and the access token's `jti` and `exp`.
#[allow(clippy::too_many_arguments)]
async fn issue(
    state: &AppState,
    client: &ClientRecord,
    subject: &str,
    scope: &ScopeSet,
    resource: Option<&str>,
    auth_time: u64,
    family: Option<&str>,
    rotating: Option<&str>,
    extra: BTreeMap<String, serde_json::Value>,
) -> OAuthResult<(TokenResponse, String, u64)> {
    if let Some(r) = resource.map(ResourceUri::parse).transpose().ok().flatten()
        && !resource_allowed(state, &r)
    {
        return Err(ErrorResponse::invalid_target(
            "this resource is not served by this authorization server",
        )
        .into());
    }
    let t = now();
    let ttl = state.config.access_token_ttl.as_secs();
    let server_error = |e: &dyn std::fmt::Display| ErrorResponse::server_error(e.to_string());
    let jti = random_base64url(16).map_err(|e| server_error(&e))?;
    let aud = match (resource, &state.config.allowed_resources) {
        (Some(r), _) => r.to_owned(),
        (None, Some(list)) if list.len() == 1 => list[0].as_str().to_owned(),
        (None, _) => state.config.issuer.as_str().to_owned(),
    };
    let claims = AccessTokenClaims {
        iss: state.config.issuer.as_str().to_owned(),
        sub: subject.to_owned(),
        aud: Audience::single(aud),
        client_id: client.client_id.clone(),
        exp: t + ttl,
        iat: t,
        jti: jti.clone(),
        nbf: None,
        scope: (!scope.is_empty()).then(|| scope.clone()),
        auth_time: Some(auth_time),
        extra,
    };
    let access = state.keys.sign(&claims).map_err(|e| server_error(&e))?;
    let mut response = TokenResponse::bearer(AccessToken::new(access), ttl);
    response.scope = claims.scope.clone();
    if let Some(family) = family {
        let refresh = RefreshToken::generate().map_err(|e| server_error(&e))?;
        let record = RefreshRecord {
            token_hash: token_hash(refresh.secret()),
            family_id: family.to_owned(),
            client_id: client.client_id.clone(),
            subject: subject.to_owned(),
            scope: scope.to_string(),
            resource: resource.map(str::to_owned),
            auth_time,
            expires_at: t + state.config.refresh_token_ttl.as_secs(),
            rotated_at: None,
        };
        match rotating {
            None => state.storage.insert_refresh(record).await?,
            Some(old) => {
                let grace = state.config.refresh_grace.as_secs();
                match state.storage.rotate_refresh(old, record, t, grace).await? {
                    RefreshRotation::Rotated(_) | RefreshRotation::WithinGrace(_) => {}
                    RefreshRotation::Reused(r) => {
                        state.metrics.refresh_reuse.inc();
                        tracing::warn!(client_id = %r.client_id, "refresh token reuse; family revoked");
                        return Err(ErrorResponse::invalid_grant(
                            "refresh token was already used; the grant is revoked",
                        )
                        .into());
                    }
                    RefreshRotation::Invalid => {
                        return Err(ErrorResponse::invalid_grant(
                            "refresh token is invalid, expired or revoked",
                        )
                        .into());
                    }
                }
            }
        }
        response.refresh_token = Some(refresh);
    }
    Ok((response, jti, t + ttl))
}
