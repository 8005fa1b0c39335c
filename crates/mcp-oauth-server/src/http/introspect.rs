//! `POST /introspect` (RFC 7662), for resource servers only: a caller must
//! authenticate as a client the operator created and marked as a resource
//! server, and learns about access tokens issued for the resources it
//! serves, nothing else. Refresh tokens are never described to a third
//! party. The answer is `{"active": false}` for anything expired, revoked,
//! unknown, malformed or not the caller's business (RFC 7662 §4).

use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::introspection::{IntrospectionRequest, IntrospectionResponse};
use mcp_oauth_core::resource::ResourceUri;

use super::{authenticate_client, decode_form};
use crate::app::AppState;
use crate::oauth::error::OAuthResult;

pub(super) async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let request: IntrospectionRequest = decode_form(&body, "introspection")?;
    let caller = authenticate_client(&state, &req, &request.client).await?;
    if !(caller.is_trusted() && caller.policy.resource_server) {
        return Err(ErrorResponse::invalid_client(
            "only resource servers the operator configured may introspect tokens",
        )
        .into());
    }
    let response = lookup(&state, request.token.secret(), &caller.policy.resources).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(response))
}

/// What the server may tell a resource server serving `serves` about an
/// access token it issued.
async fn lookup(
    state: &AppState,
    token: &str,
    serves: &[String],
) -> OAuthResult<IntrospectionResponse> {
    let Some(claims) = state.verify_access_token(token).await else {
        return Ok(IntrospectionResponse::inactive());
    };
    let ours = serves
        .iter()
        .filter_map(|r| ResourceUri::parse(r).ok())
        .any(|r| claims.aud.contains_resource(&r));
    if !ours || state.storage.jti_revoked(&claims.jti).await? {
        return Ok(IntrospectionResponse::inactive());
    }
    // A person whose grants were ended (password change, removal, `user
    // revoke`) loses the access tokens issued before that too.
    if state.storage.subject(&claims.sub).await?.revoked_at >= claims.iat {
        return Ok(IntrospectionResponse::inactive());
    }
    Ok(IntrospectionResponse::from_claims(&claims))
}
