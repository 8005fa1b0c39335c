//! `POST /revoke` (RFC 7009): access tokens by `jti`, refresh tokens by
//! family. A client may revoke only its own tokens; unknown tokens are
//! answered with 200, as the RFC asks.

use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::token::RevocationRequest;

use super::{authenticate_client, decode_form};
use crate::app::AuthServer;
use crate::oauth::error::OAuthResult;
use crate::oauth::grants::revoke::Revoked;

pub(super) async fn revoke(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let request: RevocationRequest = decode_form(&body, "revocation")?;
    let client = authenticate_client(&state, &req, &request.client).await?;
    let outcome = state
        .revoke_token(request.token.secret(), Some(&client.client_id))
        .await?;
    if outcome != Revoked::Nothing {
        tracing::info!(client_id = ?client.client_id, ?outcome, "token revoked");
    }
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .finish())
}
