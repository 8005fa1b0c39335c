//! The device authorization grant over HTTP (RFC 8628): `POST
//! /device_authorization` for devices, and the verification page `/device`
//! where a person signs in, types the code, and allows or denies.

use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::device::UserCode;
use mcp_oauth_core::secret::{Password, random_base64url};
use mcp_oauth_core::token::ClientAuthParams;
use serde::Deserialize;

use super::redirect::csrf_ok;
use super::{authenticate_client, client_address, decode_form, device_pages, pages, session};
use crate::app::AuthServer;
use crate::oauth::device::Lookup;
use crate::oauth::error::OAuthResult;
use crate::oauth::login::SignedIn;

/// The device authorization request (RFC 8628 §3.1).
#[derive(Deserialize)]
struct DeviceAuthorizationRequest {
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(flatten)]
    client: ClientAuthParams,
}

/// `POST /device_authorization`.
pub(super) async fn authorization(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> OAuthResult<HttpResponse> {
    let request: DeviceAuthorizationRequest = decode_form(&body, "device authorization")?;
    let client = authenticate_client(&state, &req, &request.client).await?;
    let address = client_address::of(&state, &req);
    let response = state
        .device_authorization()
        .start(
            &client,
            request.scope.as_deref(),
            request.resource.as_deref(),
            &address,
            state.now(),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(response))
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    user_code: Option<String>,
}

fn new_csrf() -> Option<String> {
    random_base64url(32).ok()
}

/// `GET /device[?user_code=…]`.
pub(super) async fn page(state: web::Data<AuthServer>, req: HttpRequest) -> HttpResponse {
    let query: PageQuery =
        serde_urlencoded::from_str(req.query_string()).unwrap_or(PageQuery { user_code: None });
    // Only a well-formed code is echoed back into the form.
    let typed = query
        .user_code
        .as_deref()
        .and_then(UserCode::parse)
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    let Some(csrf) = new_csrf() else {
        return unavailable();
    };
    match session::current(&state, &req).await {
        Some(user) => device_pages::enter_code(&state, &csrf, &user.sub, &typed, None, 200),
        None => device_pages::sign_in(&state, &csrf, &typed, None, 200),
    }
}

#[derive(Deserialize)]
struct PageForm {
    csrf: Option<String>,
    step: String,
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Password>,
    #[serde(default)]
    decision: Option<String>,
}

fn unavailable() -> HttpResponse {
    pages::message(503, "Unavailable", "The server is temporarily unavailable.")
}

const NOT_VALID: &str = "That code is not valid or has expired. Check the code on your device.";

/// `POST /device`: one step of the page (sign in, code, decision).
pub(super) async fn submit(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Ok(form) = serde_urlencoded::from_bytes::<PageForm>(&body) else {
        return pages::error("The form is malformed.");
    };
    if !csrf_ok(&state, &req, form.csrf.as_deref()) {
        return pages::error("The form has expired. Go back and try again.");
    }
    let csrf = form.csrf.clone().unwrap_or_default();
    let address = client_address::of(&state, &req);
    let t = state.now();
    // Who is deciding: the session, or the sign-in of this very post.
    let mut cookie = None;
    let user = if form.step == "signin" {
        if !state.config.local_login {
            return pages::error("Password sign-in is off on this server.");
        }
        let (Some(username), Some(password)) = (&form.username, &form.password) else {
            return pages::error("The sign-in form is malformed.");
        };
        let refused = || {
            tracing::info!(%address, "failed login at the device page");
            device_pages::sign_in(
                &state,
                &csrf,
                &form.user_code,
                Some("Invalid username or password."),
                401,
            )
        };
        match session::password_sign_in(&state, username, password.secret(), &address, refused)
            .await
        {
            Ok(person) => {
                cookie = session::start(&state, &person, &address).await;
                person
            }
            Err(page) => return page,
        }
    } else {
        match session::current(&state, &req).await {
            Some(session) => session.person(),
            None => return device_pages::sign_in(&state, &csrf, &form.user_code, None, 200),
        }
    };
    let mut response = step(&state, &form, &csrf, &user, &address, t).await;
    if let Some(cookie) = cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// The code or decision step, for the signed-in `user`.
async fn step(
    state: &AuthServer,
    form: &PageForm,
    csrf: &str,
    user: &SignedIn,
    address: &str,
    t: u64,
) -> HttpResponse {
    if form.step == "signin" && form.user_code.trim().is_empty() {
        // Signed in without a code yet: ask for it.
        return device_pages::enter_code(state, csrf, &user.subject, "", None, 200);
    }
    let devices = state.device_authorization();
    // Every step that names a code counts against the lookup limits, the
    // decision too: it cannot be used to probe codes either.
    let record = match devices.lookup(&form.user_code, address, t).await {
        Ok(Lookup::Found(record)) => record,
        Ok(Lookup::NotValid) => {
            return device_pages::enter_code(state, csrf, &user.subject, "", Some(NOT_VALID), 400);
        }
        Ok(Lookup::Throttled { retry_after }) => {
            let r = pages::message(
                429,
                "Too many attempts",
                "Too many codes were tried. Wait a few minutes and try again.",
            );
            return pages::with_retry_after(r, retry_after);
        }
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return unavailable();
        }
    };
    // A code whose client is gone reads like any other code that is not
    // valid (nothing tells a guesser it existed).
    let client = match state.clients().get(&record.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return device_pages::enter_code(state, csrf, &user.subject, "", Some(NOT_VALID), 400);
        }
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            return unavailable();
        }
    };
    if form.step != "decide" {
        return device_pages::confirm(state, csrf, &user.subject, &client, &record);
    }
    let allowed = match form.decision.as_deref() {
        Some("allow") => true,
        Some("deny") => false,
        _ => return pages::error("Unknown decision."),
    };
    match devices.decide(&record, user, allowed, address, t).await {
        Ok(true) if allowed => {
            tracing::info!(client_id = ?record.client_id, subject = ?user.subject, "device authorization allowed");
            pages::message(
                200,
                "Device connected",
                "Access allowed. You can close this page and return to your device.",
            )
        }
        Ok(true) => {
            tracing::info!(client_id = ?record.client_id, subject = ?user.subject, "device authorization denied");
            pages::message(200, "Access denied", "The device was not given access.")
        }
        Ok(false) => device_pages::enter_code(state, csrf, &user.subject, "", Some(NOT_VALID), 400),
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            unavailable()
        }
    }
}
