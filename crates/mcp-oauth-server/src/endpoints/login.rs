//! `POST /login`: checks the user's credentials for a pending
//! authorization request, from the login form (CSRF-checked) or from a
//! headless agent (JSON), then issues the code. Failed logins are
//! throttled per account and per address.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
use serde::Deserialize;

use super::authorize::{complete, csrf_ok, pending_from};
use super::{pages, session};
use crate::app::{AppState, now};

/// The login form a user submits, or the JSON a headless agent posts.
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: mcp_oauth_core::secret::Password,
    request: String,
    #[serde(default)]
    csrf: Option<String>,
}

pub(super) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let form: Result<LoginForm, String> = if is_json {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    };
    let form = match form {
        Ok(f) => f,
        Err(e) => {
            return json_error(
                400,
                ErrorResponse::invalid_request(format!("malformed login: {e}")),
            );
        }
    };
    if !state.config.local_login {
        return json_error(
            403,
            ErrorResponse::new(ErrorCode::AccessDenied).with_description(
                "password sign-in is disabled; sign in with an identity provider",
            ),
        );
    }
    let Some(pending) = pending_from(&state, &form.request) else {
        return pages::error(
            "This login request has expired or is invalid. Start again from the application.",
        );
    };
    // The login page's form carries a CSRF field: that is a browser, which
    // must prove the form came from our page (double-submit cookie,
    // SameSite=Strict) and gets a session. Anything else (JSON, or a form
    // body without the field) is a headless agent: it gets no session
    // cookie, so a forged post can neither sign a browser in nor obtain
    // more than a code for the forger's own pending request.
    let browser = !is_json && form.csrf.is_some();
    if browser && !csrf_ok(&req, form.csrf.as_deref()) {
        return pages::error("The login form has expired. Go back and try again.");
    }
    let client = match state.client(&pending.client_id).await {
        Ok(Some(c)) => c,
        _ => return pages::error("The application asking for access is no longer registered."),
    };
    let address = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let t = now();
    let limits = state.config.login_limits;
    let storage = state.storage.as_ref();
    let retry = match limits
        .retry_after(storage, &form.username, &address, t)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return pages::message(503, "Unavailable", "The server is temporarily unavailable.");
        }
    };
    if let Some(wait) = retry {
        tracing::warn!(%address, "login throttled");
        let mut r = if !browser {
            json_error(
                429,
                ErrorResponse::new(ErrorCode::Other("too_many_attempts".into()))
                    .with_description("too many failed logins; try again later"),
            )
        } else {
            pages::message(
                429,
                "Too many attempts",
                "Too many failed sign-ins. Wait a few minutes and try again.",
            )
        };
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    if !check_credentials(&state, &form.username, form.password.secret()).await {
        if let Err(e) = limits.failure(storage, &form.username, &address, t).await {
            tracing::error!(error = %e, "could not record a failed login");
        }
        state.metrics.login_failures.inc();
        tracing::info!(client_id = %pending.client_id, %address, "failed login");
        if !browser {
            return json_error(
                401,
                ErrorResponse::new(ErrorCode::AccessDenied)
                    .with_description("invalid username or password"),
            );
        }
        let csrf = form.csrf.unwrap_or_default();
        return pages::login(
            &state,
            &client,
            &pending,
            &form.request,
            &csrf,
            Some("Invalid username or password."),
            401,
        );
    }
    if let Err(e) = limits.success(storage, &form.username).await {
        tracing::error!(error = %e, "could not clear failed logins");
    }
    // The page says "Sign in and allow": submitting it is consent. A
    // headless login is the user's own agent; it counts as consent unless
    // the operator says otherwise.
    let remember = browser || state.config.headless_login_is_consent;
    let mut response = complete(&state, &pending, &form.username, t, remember).await;
    if browser && let Some(cookie) = session::start(&state, &form.username, t) {
        response.cookie(cookie);
    }
    response.finish()
}

/// Checks a username and password. Unknown users cost one argon2
/// verification too, so timing does not tell them apart.
async fn check_credentials(state: &AppState, username: &str, password: &str) -> bool {
    let stored = match crate::admin::check_username(username) {
        Ok(()) => state.storage.user(username).await.ok().flatten(),
        Err(_) => None,
    };
    let hash = stored
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| crate::password::dummy_hash().to_owned());
    let matched = crate::password::verify_password_bounded(password.to_owned(), hash).await;
    matched && stored.is_some()
}

fn json_error(status: u16, e: ErrorResponse) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(e)
}
