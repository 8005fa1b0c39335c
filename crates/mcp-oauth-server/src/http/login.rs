//! `POST /login`: checks the user's credentials for a pending
//! authorization request, from the login form (CSRF-checked) or, for
//! first-party agents the operator allowed, as JSON (the headless login),
//! then issues the code. Attempts are reserved against the per-account and
//! per-address limits before the password is checked
//! ([`crate::ratelimit`]).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
use serde::Deserialize;

use super::redirect::{complete, csrf_ok};
use super::{pages, session};
use crate::app::AuthServer;
use crate::oauth::pending::Pending;
use crate::password::HashersBusy;
use crate::ratelimit::Attempt;

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
    state: web::Data<AuthServer>,
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
    let Some(pending) = Pending::open(&state.keys, &form.request) else {
        return pages::error(
            "This login request has expired or is invalid. Start again from the application.",
        );
    };
    // A form post is a browser, which must prove the form came from our
    // page (double-submit cookie, SameSite=Strict) and gets a session. A
    // JSON post is the headless login of a first-party agent: browsers
    // cannot send it cross-site without CORS, which this route does not
    // grant, and only clients the operator allowed it may use it.
    let browser = !is_json;
    if browser && !csrf_ok(&state, &req, form.csrf.as_deref()) {
        return pages::error("The login form has expired. Go back and try again.");
    }
    let client = match state.client(&pending.client_id).await {
        Ok(Some(c)) => c,
        _ => return pages::error("The application asking for access is no longer registered."),
    };
    let headless_allowed = client.is_trusted() && client.policy.headless_login;
    if !browser && !headless_allowed {
        return json_error(
            403,
            ErrorResponse::new(ErrorCode::AccessDenied).with_description(
                "headless login is not available to this client; sign in on the login page",
            ),
        );
    }
    let address = super::client_address::of(&state, &req);
    let t = state.now();
    let limits = state.config.login_limits;
    let storage = state.storage.as_ref();
    let account = crate::admin::check_username(&form.username)
        .is_ok()
        .then_some(form.username.as_str());
    let reservation = match limits.reserve(storage, account, &address, t).await {
        Ok(Attempt::Allowed(r)) => r,
        Ok(Attempt::Throttled { retry_after }) => {
            tracing::warn!(%address, "login throttled");
            let r = if browser {
                pages::message(
                    429,
                    "Too many attempts",
                    "Too many sign-in attempts. Wait a few minutes and try again.",
                )
            } else {
                json_error(
                    429,
                    ErrorResponse::new(ErrorCode::Other("too_many_attempts".into()))
                        .with_description("too many login attempts; try again later"),
                )
            };
            return with_retry_after(r, retry_after);
        }
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return pages::message(503, "Unavailable", "The server is temporarily unavailable.");
        }
    };
    let matched = match check_credentials(&state, account, form.password.secret()).await {
        Ok(m) => m,
        Err(busy) => {
            if let Err(e) = limits.abandoned(storage, reservation).await {
                tracing::error!(error = %e, "storage failure");
            }
            let r = if browser {
                pages::message(503, "Busy", "The server is busy. Try again in a moment.")
            } else {
                json_error(
                    503,
                    ErrorResponse::new(ErrorCode::TemporarilyUnavailable)
                        .with_description(busy.to_string()),
                )
            };
            return with_retry_after(r, 1);
        }
    };
    if !matched {
        limits.failed(reservation);
        state.metrics.login_failures.inc();
        tracing::info!(client_id = ?pending.client_id, %address, "failed login");
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
    if let Err(e) = limits.succeeded(storage, reservation).await {
        tracing::error!(error = %e, "could not clear login attempts");
    }
    let generation = match storage.subject(&form.username).await {
        Ok(s) => s.generation,
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return pages::message(503, "Unavailable", "The server is temporarily unavailable.");
        }
    };
    // The page says "Sign in and allow": submitting it is consent, and is
    // remembered. A headless login approves this one request only.
    let mut response = complete(&state, &pending, &form.username, generation, t, browser).await;
    if browser && let Some(cookie) = session::start(&state, &form.username, generation, t) {
        response.cookie(cookie);
    }
    response.finish()
}

/// Checks a username and password. Unknown users cost one Argon2
/// verification too, so timing does not tell them apart; a name that
/// cannot exist (`None`) is refused without one.
async fn check_credentials(
    state: &AuthServer,
    username: Option<&str>,
    password: &str,
) -> Result<bool, HashersBusy> {
    let Some(username) = username else {
        return Ok(false);
    };
    let stored = state.storage.user(username).await.ok().flatten();
    let hash = stored
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| crate::password::dummy_hash().to_owned());
    let matched = crate::password::verify_password_bounded(password.to_owned(), hash).await?;
    Ok(matched && stored.is_some())
}

fn with_retry_after(mut r: HttpResponse, seconds: u64) -> HttpResponse {
    if let Ok(v) = header::HeaderValue::from_str(&seconds.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn json_error(status: u16, e: ErrorResponse) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(e)
}
