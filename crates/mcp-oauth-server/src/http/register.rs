//! `POST /register`: RFC 7591 dynamic client registration
//! ([`crate::oauth::registration`]); `GET`, `PUT` and `DELETE
//! /register/{client_id}`: the RFC 7592 client configuration endpoint
//! ([`crate::oauth::client_config`]).

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::AuthServer;
use crate::oauth::error::OAuthResult;

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1; the
/// scheme is case-insensitive), if there is one.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A JSON answer that must not be cached (it carries credentials).
fn no_store(status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(body)
}

pub(super) async fn register(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let address = super::client_address::of(&state, &req);
    let info = state
        .registration()
        .register(&address, bearer(&req), &body, state.now())
        .await?;
    Ok(no_store(StatusCode::CREATED, &info))
}

pub(super) async fn read(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    client_id: web::Path<String>,
) -> OAuthResult<HttpResponse> {
    let info = state.registration().read(&client_id, bearer(&req)).await?;
    Ok(no_store(StatusCode::OK, &info))
}

pub(super) async fn update(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    client_id: web::Path<String>,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let address = super::client_address::of(&state, &req);
    let info = state
        .registration()
        .update(&address, &client_id, bearer(&req), &body, state.now())
        .await?;
    Ok(no_store(StatusCode::OK, &info))
}

pub(super) async fn delete(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    client_id: web::Path<String>,
) -> OAuthResult<HttpResponse> {
    let address = super::client_address::of(&state, &req);
    state
        .registration()
        .delete(&address, &client_id, bearer(&req), state.now())
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}
