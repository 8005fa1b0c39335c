//! `POST /introspect` (RFC 7662), for resource servers only: a caller must
//! authenticate as a client the operator created and marked as a resource
//! server, and learns about access tokens issued for the resources it
//! serves, nothing else. Refresh tokens are never described to a third
//! party. The answer is `{"active": false}` for anything expired, revoked,
//! unknown, malformed or not the caller's business (RFC 7662 §4).

use actix_web::http::header::{CACHE_CONTROL, HeaderValue, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::introspection::{IntrospectionRequest, IntrospectionResponse};

use super::{authenticate_client, decode_form};
use crate::app::AuthServer;
use crate::oauth::error::OAuthResult;
use crate::oauth::grants;

pub(super) async fn introspect(
    state: web::Data<AuthServer>,
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
    let verified = state.verified_access_token(request.token.secret()).await;
    let active = grants::introspection::introspect(
        state.storage(),
        state.live_tokens(),
        verified.as_deref(),
        &caller.policy.resources,
    )
    .await?;
    let mut answer = HttpResponse::Ok();
    answer
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((PRAGMA, HeaderValue::from_static("no-cache")));
    Ok(match verified.as_deref().filter(|_| active) {
        Some(claims) => answer.json(grants::introspection::Active::of(claims)),
        None => answer.json(IntrospectionResponse::inactive()),
    })
}
