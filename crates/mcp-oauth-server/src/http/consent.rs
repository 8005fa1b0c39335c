//! `POST /consent`: a signed-in user allows or denies a pending request.
//! Allowing records the consent (per user, client and scope set) and issues
//! the code; denying sends `access_denied` back to the client.

use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::error::ErrorCode;
use serde::Deserialize;

use super::redirect::{complete, csrf_ok, refuse};
use super::{pages, session};
use crate::app::AuthServer;
use crate::oauth::pending::Pending;

#[derive(Deserialize)]
struct ConsentForm {
    request: String,
    csrf: Option<String>,
    decision: String,
}

pub(super) async fn consent(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Ok(form) = serde_urlencoded::from_bytes::<ConsentForm>(&body) else {
        return pages::error("The consent form is malformed.");
    };
    let Some(pending) = Pending::open(&state.keys, &form.request) else {
        return pages::error(
            "This request has expired or is invalid. Start again from the application.",
        );
    };
    if !csrf_ok(&state, &req, form.csrf.as_deref()) {
        return pages::error("The consent form has expired. Go back and try again.");
    }
    let Some(user) = session::current(&state, &req).await else {
        return pages::error("You are not signed in any more. Start again from the application.");
    };
    match form.decision.as_str() {
        "allow" => complete(&state, &pending, &user.person(), true)
            .await
            .finish(),
        "deny" => {
            tracing::info!(client_id = ?pending.client_id, subject = ?user.sub, "authorization denied");
            refuse(
                &state,
                &pending,
                ErrorCode::AccessDenied,
                "the user denied the request",
            )
        }
        _ => pages::error("Unknown decision."),
    }
}
