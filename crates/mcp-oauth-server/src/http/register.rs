//! `POST /register`: RFC 7591 dynamic client registration
//! ([`crate::oauth::registration`]).

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::AuthServer;
use crate::oauth::error::OAuthResult;

pub(super) async fn register(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let address = super::client_address::of(&state, &req);
    let initial_token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let info = state
        .registration()
        .register(&address, initial_token, &body, state.now())
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(info))
}
