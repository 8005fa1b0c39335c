//! Discovery (RFC 8414 and the OIDC alias), JWKS and health.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};

use crate::app::AppState;

/// Where the metadata is served: RFC 8414 and OIDC well-known paths, in
/// path-inserted form when the issuer has a path, plus the OIDC appended
/// form.
pub(super) fn well_known_paths(issuer_path: &str) -> Vec<String> {
    let mut v = vec![
        format!("/.well-known/oauth-authorization-server{issuer_path}"),
        format!("/.well-known/openid-configuration{issuer_path}"),
    ];
    if !issuer_path.is_empty() {
        v.push(format!("{issuer_path}/.well-known/openid-configuration"));
    }
    v
}

pub(super) async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .json(&state.metadata)
}

pub(super) async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .json(state.keys.jwks())
}

pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}
