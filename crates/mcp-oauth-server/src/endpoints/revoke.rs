//! `POST /revoke` (RFC 7009): access tokens by `jti`, refresh tokens by
//! family. A client may revoke only its own tokens; unknown tokens are
//! answered with 200, as the RFC asks.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::secret::token_hash;
use mcp_oauth_core::token::RevocationRequest;

use super::{authenticate_client, decode_form};
use crate::app::AppState;
use crate::http_error::OAuthResult;

pub(super) async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let request: RevocationRequest = decode_form(&body, "revocation")?;
    let client = authenticate_client(&state, &req, &request.client).await?;
    let token = request.token.secret();
    if let Some(claims) = state.keys.verify(token) {
        if claims.client_id == client.client_id {
            state.storage.revoke_jti(&claims.jti, claims.exp).await?;
            tracing::info!(client_id = %client.client_id, "access token revoked");
        }
    } else if let Some(r) = state.storage.refresh(&token_hash(token)).await?
        && r.client_id == client.client_id
    {
        state.storage.revoke_family(&r.family_id).await?;
        tracing::info!(client_id = %client.client_id, "refresh token family revoked");
    }
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}
