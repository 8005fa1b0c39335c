//! `POST /introspect` (RFC 7662). The caller must authenticate as a
//! confidential client; the answer is `{"active": false}` for anything
//! expired, revoked, unknown or malformed.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::introspection::{IntrospectionRequest, IntrospectionResponse};
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{constant_time_eq, token_hash};

use super::{authenticate_client, decode_form};
use crate::app::{AppState, now};
use crate::http_error::OAuthResult;

pub(super) async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let request: IntrospectionRequest = decode_form(&body, "introspection")?;
    if !is_resource_server(&state, &req, &request) {
        let caller = authenticate_client(&state, &req, &request.client).await?;
        if !caller.is_confidential() {
            return Err(
                ErrorResponse::invalid_client("introspection needs a confidential client").into(),
            );
        }
    }
    let response = lookup(&state, request.token.secret()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(response))
}

/// Whether the caller presents one of the configured resource-server
/// credentials (HTTP Basic or in the body).
fn is_resource_server(state: &AppState, req: &HttpRequest, request: &IntrospectionRequest) -> bool {
    let presented = match super::basic_credentials(req) {
        Ok(Some((id, secret))) => Some((id, secret)),
        _ => match (&request.client.client_id, &request.client.client_secret) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.secret().to_owned())),
            _ => None,
        },
    };
    let Some((id, secret)) = presented else {
        return false;
    };
    state
        .config
        .introspection_credentials
        .iter()
        .any(|(cid, csecret)| {
            cid == &id
                && constant_time_eq(
                    token_hash(csecret.secret()).as_bytes(),
                    token_hash(&secret).as_bytes(),
                )
        })
}

/// What the server knows about a token it issued.
pub(super) async fn lookup(state: &AppState, token: &str) -> OAuthResult<IntrospectionResponse> {
    if let Some(claims) = state.verify_access_token(token).await {
        if state.storage.jti_revoked(&claims.jti).await? {
            return Ok(IntrospectionResponse::inactive());
        }
        return Ok(IntrospectionResponse::from_claims(&claims));
    }
    let Some(r) = state.storage.refresh(&token_hash(token)).await? else {
        return Ok(IntrospectionResponse::inactive());
    };
    let live = r.rotated_at.is_none()
        && r.expires_at > now()
        && !state.storage.family_revoked(&r.family_id).await?;
    if !live {
        return Ok(IntrospectionResponse::inactive());
    }
    Ok(IntrospectionResponse {
        active: true,
        scope: Some(ScopeSet::parse_lossy(&r.scope)),
        client_id: Some(r.client_id),
        sub: Some(r.subject),
        exp: Some(r.expires_at),
        iss: Some(state.config.issuer.as_str().to_owned()),
        token_type: Some("refresh_token".to_owned()),
        ..IntrospectionResponse::default()
    })
}
