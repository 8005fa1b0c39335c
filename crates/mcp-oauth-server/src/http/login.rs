//! `POST /login`: checks the user's credentials for a pending
//! authorization request, from the login form (CSRF-checked) or, for
//! first-party agents the operator allowed, as JSON (the headless login),
//! then issues the code. The sign-in itself (throttling, the password
//! check) is [`crate::oauth::login`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
use serde::Deserialize;

use super::redirect::{complete, csrf_ok};
use super::{pages, session};
use crate::app::AuthServer;
use crate::oauth::login::SignIn;
use crate::oauth::login::SignedIn;
use crate::oauth::pending::Pending;
use crate::storage::SignInMethod;

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
    let client = match state.clients().get(&pending.client_id).await {
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
    let outcome = state
        .password_login()
        .sign_in(&form.username, form.password.secret(), &address, t)
        .await;
    let generation = match outcome {
        Ok(SignIn::Accepted { generation }) => generation,
        Ok(SignIn::Throttled { retry_after }) => {
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
            return pages::with_retry_after(r, retry_after);
        }
        Ok(SignIn::Busy(busy)) => {
            let r = if browser {
                pages::message(503, "Busy", "The server is busy. Try again in a moment.")
            } else {
                json_error(
                    503,
                    ErrorResponse::new(ErrorCode::TemporarilyUnavailable)
                        .with_description(busy.to_string()),
                )
            };
            return pages::with_retry_after(r, 1);
        }
        Ok(SignIn::Refused) => {
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
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return pages::message(503, "Unavailable", "The server is temporarily unavailable.");
        }
    };
    // The page says "Sign in and allow": submitting it is consent, and is
    // remembered. A headless login approves this one request only.
    let who = SignedIn {
        subject: form.username.clone(),
        generation,
        auth_time: t,
        method: if browser {
            SignInMethod::Password
        } else {
            SignInMethod::Headless
        },
    };
    let mut response = complete(&state, &pending, &who, browser).await;
    if browser && let Some(cookie) = session::start(&state, &who, &address).await {
        response.cookie(cookie);
    }
    response.finish()
}

fn json_error(status: u16, e: ErrorResponse) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(e)
}
