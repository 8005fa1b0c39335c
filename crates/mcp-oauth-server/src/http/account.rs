//! `GET /account`, `POST /account` and `POST /logout`: the person's own
//! view of the grants they gave (and the button that takes one back), and
//! signing out. Every post carries the double-submit CSRF field; signing in
//! here goes through the same throttled password check as the login page,
//! or through an upstream provider.

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::secret::{Password, random_base64url};
use serde::Deserialize;

use super::account_pages::{self, Shown};
use super::redirect::csrf_ok;
use super::{client_address, pages, session};
use crate::app::AuthServer;
use crate::oauth::audit::Actor;
use crate::storage::GrantFilter;

#[derive(Deserialize)]
struct AccountForm {
    csrf: Option<String>,
    step: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Password>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    resource: Option<String>,
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: Option<String>,
}

fn unavailable() -> HttpResponse {
    pages::message(503, "Unavailable", "The server is temporarily unavailable.")
}

/// The overview of `subject`'s grants.
async fn overview(
    state: &AuthServer,
    csrf: &str,
    subject: &str,
    notice: Option<&str>,
) -> HttpResponse {
    let grants = match state
        .accounts()
        .grants(&GrantFilter::subject(subject))
        .await
    {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return unavailable();
        }
    };
    let mut shown = Vec::with_capacity(grants.len());
    for grant in grants {
        // Names only as far as they are known: the page never makes the
        // server fetch a metadata document.
        let client = state
            .clients()
            .known(&grant.record.client_id)
            .await
            .ok()
            .flatten();
        shown.push(Shown { grant, client });
    }
    account_pages::overview(state, csrf, subject, &shown, notice)
}

/// `GET /account`.
pub(super) async fn page(state: web::Data<AuthServer>, req: HttpRequest) -> HttpResponse {
    let Ok(csrf) = random_base64url(32) else {
        return unavailable();
    };
    match session::current(&state, &req).await {
        Some(s) => overview(&state, &csrf, &s.sub, None).await,
        None => account_pages::sign_in(&state, &csrf, None, 200),
    }
}

/// `POST /account`: sign in, or take one grant back.
pub(super) async fn submit(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Ok(form) = serde_urlencoded::from_bytes::<AccountForm>(&body) else {
        return pages::error("The form is malformed.");
    };
    if !csrf_ok(&state, &req, form.csrf.as_deref()) {
        return pages::error("The form has expired. Go back and try again.");
    }
    let csrf = form.csrf.clone().unwrap_or_default();
    let address = client_address::of(&state, &req);
    match form.step.as_str() {
        "signin" => sign_in(&state, &form, &csrf, &address).await,
        "revoke" => {
            let Some(session) = session::current(&state, &req).await else {
                return account_pages::sign_in(&state, &csrf, None, 200);
            };
            let (Some(client_id), Some(resource)) = (&form.client_id, &form.resource) else {
                return pages::error("The form is malformed.");
            };
            let filter = GrantFilter::subject(&session.sub)
                .client(client_id)
                .resource(resource);
            let actor = Actor::Person {
                subject: session.sub.clone(),
                address,
            };
            match state.accounts().revoke_grants(&filter, &actor).await {
                Ok(ended) if ended.is_empty() => {
                    overview(&state, &csrf, &session.sub, Some("Nothing to remove.")).await
                }
                Ok(_) => {
                    let notice = "Access removed. That application can no longer act for you.";
                    overview(&state, &csrf, &session.sub, Some(notice)).await
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not revoke a grant");
                    unavailable()
                }
            }
        }
        _ => pages::error("Unknown step."),
    }
}

/// The password sign-in of the account page: a session, then the page.
async fn sign_in(
    state: &AuthServer,
    form: &AccountForm,
    csrf: &str,
    address: &str,
) -> HttpResponse {
    if !state.config.local_login {
        return pages::error("Password sign-in is off on this server.");
    }
    let (Some(username), Some(password)) = (&form.username, &form.password) else {
        return pages::error("The sign-in form is malformed.");
    };
    let who = match session::password_sign_in(state, username, password.secret(), address, || {
        account_pages::sign_in(state, csrf, Some("Invalid username or password."), 401)
    })
    .await
    {
        Ok(who) => who,
        Err(page) => return page,
    };
    // Post, redirect, get: a reload does not post the password again.
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, state.endpoint("/account")))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(cookie) = session::start(state, &who, address).await {
        response.cookie(cookie);
    }
    response.finish()
}

/// `POST /logout`: ends this browser's session (on every instance) and
/// clears its cookie.
pub(super) async fn logout(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Ok(form) = serde_urlencoded::from_bytes::<LogoutForm>(&body) else {
        return pages::error("The form is malformed.");
    };
    // A cross-site post cannot sign a person out either.
    if !csrf_ok(&state, &req, form.csrf.as_deref()) {
        return pages::error("The form has expired. Go back and try again.");
    }
    let address = client_address::of(&state, &req);
    let cleared: Cookie<'static> = session::end(&state, &req, &address).await;
    let mut r = pages::message(200, "Signed out", "You are signed out of this server.");
    let _ = r.add_cookie(&cleared);
    r
}
