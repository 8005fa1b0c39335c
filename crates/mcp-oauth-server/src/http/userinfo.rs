//! `GET`/`POST /userinfo` (OIDC Core 1.0 §5.3), served while OpenID
//! Connect is on: the bearer access token (`Authorization: Bearer`, RFC
//! 6750 §2.1) must be one this server issued, live, with scope `openid`.
//! Refusals carry the RFC 6750 §3 challenge: 401 without a token or with
//! an invalid one, 403 `insufficient_scope` without `openid`.

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::app::AuthServer;
use crate::oauth::error::{OAuthError, OAuthResult};
use crate::oauth::oidc::OPENID_SCOPE;
use crate::oauth::oidc::userinfo::{UserinfoError, userinfo as answer};

/// The realm of the UserInfo endpoint's bearer challenges.
const REALM: &str = "userinfo";

pub(super) async fn userinfo(
    state: web::Data<AuthServer>,
    req: HttpRequest,
) -> OAuthResult<HttpResponse> {
    let token = bearer(&req);
    let verified = match token {
        Some(t) => state.verify_access_token(t).await,
        None => None,
    };
    match answer(state.storage(), token.is_some(), verified).await {
        Ok(claims) => Ok(HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"))
            .json(claims)),
        Err(UserinfoError::Storage(e)) => Err(OAuthError::from(e)),
        Err(e) => Ok(refusal(&e)),
    }
}

/// The token of `Authorization: Bearer …`, if one was sent.
fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
}

/// The RFC 6750 §3 answer to a refused request: no error code when no
/// token was sent (§3.1), `invalid_token` (401) or `insufficient_scope`
/// (403, naming the scope needed). Storage failures never come here:
/// the handler answers them as `temporarily_unavailable` (503).
fn refusal(e: &UserinfoError) -> HttpResponse {
    let (status, challenge, error) = match e {
        UserinfoError::InsufficientScope => (
            StatusCode::FORBIDDEN,
            format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{OPENID_SCOPE}\""
            ),
            Some("insufficient_scope"),
        ),
        UserinfoError::InvalidToken => (
            StatusCode::UNAUTHORIZED,
            format!("Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{e}\""),
            Some("invalid_token"),
        ),
        UserinfoError::MissingToken | UserinfoError::Storage(_) => (
            StatusCode::UNAUTHORIZED,
            format!("Bearer realm=\"{REALM}\""),
            None,
        ),
    };
    let mut r = HttpResponse::build(status);
    r.insert_header((WWW_AUTHENTICATE, challenge))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"));
    match error {
        Some(error) => r.json(json!({ "error": error, "error_description": e.to_string() })),
        None => r.finish(),
    }
}
