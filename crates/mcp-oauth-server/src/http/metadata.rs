//! Discovery (RFC 8414 and the OIDC alias), JWKS and health.

use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::secret::{constant_time_eq, token_hash};

use crate::app::AuthServer;

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

pub(super) async fn metadata(state: web::Data<AuthServer>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .json(&state.metadata)
}

pub(super) async fn jwks(state: web::Data<AuthServer>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .json(state.keys.jwks())
}

pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// `/metrics` is off unless the operator set a token, and then answers
/// only callers presenting it (`Authorization: Bearer …`): the counters
/// tell an attacker how a guessing campaign is going.
pub(super) async fn metrics(state: web::Data<AuthServer>, req: HttpRequest) -> HttpResponse {
    let Some(expected) = &state.config.metrics_token else {
        return HttpResponse::NotFound().finish();
    };
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    if !constant_time_eq(
        token_hash(presented).as_bytes(),
        token_hash(expected.secret()).as_bytes(),
    ) {
        return HttpResponse::Unauthorized()
            .insert_header((WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish();
    }
    state.update_cache_metrics().await;
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}
