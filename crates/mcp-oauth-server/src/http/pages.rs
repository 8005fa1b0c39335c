//! The HTML the authorization server shows people: login, consent, errors.
//! Every page forbids framing, caching and referrers, needs no JavaScript,
//! and escapes everything it did not write itself.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, HttpResponseBuilder};

use crate::app::AuthServer;
use crate::oauth::pending::Pending;
use crate::storage::ClientRecord;

/// The double-submit CSRF cookie of the login and consent forms.
pub(super) use mcp_oauth_core::html::escape;

fn headers(status: u16) -> HttpResponseBuilder {
    let mut r =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    r.content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    r
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d1d1f;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);max-width:26rem;width:100%}h1{font-size:1.3rem;margin-top:0}label{display:block;margin-top:1rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem;font-size:1rem;border:1px solid #888;border-radius:4px}button{margin-top:1.25rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:4px;cursor:pointer}.primary{background:#1f5fbf;color:#fff}.secondary{background:#e4e6eb;color:#1d1d1f}button:focus,input:focus{outline:3px solid #f0b400;outline-offset:1px}.error{color:#a40000;font-weight:600}.meta{color:#444;font-size:.9rem}ul{padding-left:1.2rem}";

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

/// A page with one message.
pub(super) fn message(status: u16, title: &str, text: &str) -> HttpResponse {
    headers(status).body(document(
        title,
        &format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>",
            escape(title),
            escape(text)
        ),
    ))
}

/// The error page for requests that cannot be trusted to redirect.
pub(super) fn error(text: &str) -> HttpResponse {
    message(400, "Authorization error", text)
}

/// An error for a client the operator does not vouch for: shown here, with
/// a link the person may follow back to the application (`back`, the error
/// response), rather than an automatic redirect.
pub(super) fn error_with_return(text: &str, back: &str) -> HttpResponse {
    let host = url::Url::parse(back)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    headers(400).body(document(
        "Authorization error",
        &format!(
            "<h1>Authorization error</h1><p class=\"error\" role=\"alert\">The request cannot be completed: {}.</p>\
<p class=\"meta\">The application that sent you here has not been verified by this server.</p>\
<p><a href=\"{}\">Return to {}</a></p>",
            escape(text),
            escape(back),
            escape(&host),
        ),
    ))
}

/// Who vouches for the client's name: the operator, the site of its
/// metadata document, or nobody (it registered itself).
fn provenance(client: &ClientRecord) -> String {
    if client.is_trusted() {
        return String::new();
    }
    match url::Url::parse(&client.client_id)
        .ok()
        .filter(|u| u.scheme() == "https" || u.scheme() == "http")
        .and_then(|u| u.host_str().map(str::to_owned))
    {
        Some(host) => format!(
            "<p class=\"meta\">This application is described by <strong>{}</strong>; its name is not verified by this server.</p>",
            escape(&host)
        ),
        None => "<p class=\"meta\">This application registered itself; its name is not verified by this server.</p>".to_owned(),
    }
}

/// Who asks, for what, and where the answer goes.
fn request_summary(client: &ClientRecord, pending: &Pending) -> String {
    let name = client
        .metadata
        .client_name
        .as_deref()
        .unwrap_or(&client.client_id);
    let redirect = url::Url::parse(&pending.redirect_uri).ok();
    let host = redirect
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    // MCP 2025-11-25, localhost redirect URI risks: any program on the
    // person's computer can listen there.
    let local = if redirect
        .as_ref()
        .is_some_and(mcp_oauth_core::redirect::is_loopback)
    {
        "<p class=\"meta\">The answer goes to a program on your own computer. Continue only if you started this application yourself.</p>"
    } else {
        ""
    };
    let scopes: String = pending
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| format!("<li><code>{}</code></li>", escape(s)))
        .collect();
    format!(
        "<p><strong>{}</strong> asks for access{}.</p>{}<p class=\"meta\">Afterwards you return to <strong>{}</strong>.</p>{local}<p class=\"meta\">Permissions asked:</p><ul>{scopes}</ul>",
        escape(name),
        pending
            .resource
            .as_deref()
            .map(|r| format!(" to <strong>{}</strong>", escape(r)))
            .unwrap_or_default(),
        provenance(client),
        escape(&host),
    )
}

fn csrf_cookie(state: &AuthServer, csrf: &str) -> Cookie<'static> {
    Cookie::build(
        super::cookies::name(state, super::cookies::CSRF_COOKIE),
        csrf.to_owned(),
    )
    .path("/")
    .http_only(true)
    .secure(state.config.issuer.is_https())
    .same_site(SameSite::Strict)
    .finish()
}

/// The login form; submitting it also grants the access it describes.
pub(super) fn login(
    state: &AuthServer,
    client: &ClientRecord,
    pending: &Pending,
    handle: &str,
    csrf: &str,
    failure: Option<&str>,
    status: u16,
) -> HttpResponse {
    let failure = failure
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let hidden = format!(
        "<input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(handle),
        escape(csrf),
    );
    // One button per upstream identity provider; each is a form post, so
    // it carries the CSRF field like the password form.
    let upstreams: String = state
        .federation
        .list()
        .map(|u| {
            format!(
                "<form method=\"post\" action=\"{action}\">{hidden}\
<button class=\"secondary\" type=\"submit\">Sign in with {name} and allow</button></form>",
                action = escape(&state.endpoint(&format!("/federate/{}", u.id))),
                name = escape(&u.name),
            )
        })
        .collect();
    let local = if state.config.local_login {
        format!(
            "<form method=\"post\" action=\"{action}\">{hidden}\
<label for=\"username\">Username</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<button class=\"primary\" type=\"submit\">Sign in and allow</button></form>",
            action = escape(&state.endpoint("/login")),
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Sign in to continue</h1>{summary}{failure}{upstreams}{local}",
        summary = request_summary(client, pending),
    );
    headers(status)
        .cookie(csrf_cookie(state, csrf))
        .body(document("Sign in", &body))
}

/// The consent page for a signed-in user.
pub(super) fn consent(
    state: &AuthServer,
    client: &ClientRecord,
    pending: &Pending,
    handle: &str,
    csrf: &str,
    user: &str,
) -> HttpResponse {
    let body = format!(
        "<h1>Allow access?</h1><p class=\"meta\">Signed in as <strong>{user}</strong>.</p>{summary}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"request\" value=\"{handle}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button class=\"primary\" type=\"submit\" name=\"decision\" value=\"allow\" autofocus>Allow</button>\
<button class=\"secondary\" type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        user = escape(user),
        summary = request_summary(client, pending),
        action = escape(&state.endpoint("/consent")),
        handle = escape(handle),
        csrf = escape(csrf),
    );
    headers(200)
        .cookie(csrf_cookie(state, csrf))
        .body(document("Allow access?", &body))
}
