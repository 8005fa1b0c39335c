//! The HTML the authorization server shows people: login, consent, errors.
//! Every page forbids framing, caching and referrers, and needs no
//! JavaScript. The pages are compile-time templates (maud): everything
//! interpolated is escaped unless marked otherwise, and only this file's
//! own constants are.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, HttpResponseBuilder};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::app::AuthServer;
use crate::oauth::pending::Pending;
use crate::storage::ClientRecord;

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

/// A whole page around `body`.
pub(super) fn document(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
    .into_string()
}

/// The response of a page: its status, the protective headers, the HTML.
pub(super) fn page(status: u16, title: &str, body: Markup) -> HttpResponse {
    headers(status).body(document(title, body))
}

/// `r` asking the caller to wait `seconds` (`Retry-After`).
pub(super) fn with_retry_after(mut r: HttpResponse, seconds: u64) -> HttpResponse {
    if let Ok(v) = header::HeaderValue::from_str(&seconds.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// A page with one message.
pub(super) fn message(status: u16, title: &str, text: &str) -> HttpResponse {
    page(
        status,
        title,
        html! {
            h1 { (title) }
            p.error role="alert" { (text) }
        },
    )
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
    page(
        400,
        "Authorization error",
        html! {
            h1 { "Authorization error" }
            p.error role="alert" { "The request cannot be completed: " (text) "." }
            p.meta { "The application that sent you here has not been verified by this server." }
            p { a href=(back) { "Return to " (host) } }
        },
    )
}

/// Who vouches for the client's name: the operator, the site of its
/// metadata document, or nobody (it registered itself).
fn provenance(client: &ClientRecord) -> Markup {
    if client.is_trusted() {
        return html! {};
    }
    let described_by = url::Url::parse(&client.client_id)
        .ok()
        .filter(|u| u.scheme() == "https" || u.scheme() == "http")
        .and_then(|u| u.host_str().map(str::to_owned));
    // MCP 2026-07-28, localhost redirect URI risks: a document whose
    // redirect URIs are all loopback proves nothing about who is asking,
    // since anyone can name it and listen on a loopback port.
    let uris = client.metadata.redirect_uris();
    let loopback_only = !uris.is_empty()
        && uris
            .iter()
            .all(|u| url::Url::parse(u).is_ok_and(|u| mcp_oauth_core::redirect::is_loopback(&u)));
    html! {
        @if let Some(host) = described_by {
            p.meta {
                "This application is described by " strong { (host) }
                "; its name is not verified by this server."
            }
            @if loopback_only {
                p.error.loopback-warning role="alert" {
                    "Be careful: this application runs on your own computer, and any program "
                    "there could claim to be it. Continue only if you started it yourself just "
                    "now and expected it to ask for access."
                }
            }
        } @else {
            p.meta { "This application registered itself; its name is not verified by this server." }
        }
    }
}

/// Who asks, for what (scopes, resource), and, for a redirect-based
/// request, where the answer goes.
pub(super) fn request_summary(
    client: &ClientRecord,
    scope: &str,
    resource: Option<&str>,
    redirect_uri: Option<&str>,
) -> Markup {
    let name = client
        .metadata
        .client_name
        .as_deref()
        .unwrap_or(&client.client_id);
    let redirect = redirect_uri.and_then(|r| url::Url::parse(r).ok());
    let host = redirect
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned));
    // MCP 2025-11-25, localhost redirect URI risks: any program on the
    // person's computer can listen there.
    let local = redirect
        .as_ref()
        .is_some_and(mcp_oauth_core::redirect::is_loopback);
    html! {
        p {
            strong { (name) } " asks for access"
            @if let Some(r) = resource { " to " strong { (r) } }
            "."
        }
        (provenance(client))
        @if let Some(host) = host {
            p.meta { "Afterwards you return to " strong { (host) } "." }
        }
        @if local {
            p.meta { "The answer goes to a program on your own computer. Continue only if you started this application yourself." }
        }
        p.meta { "Permissions asked:" }
        ul {
            @for s in scope.split(' ').filter(|s| !s.is_empty()) {
                li { code { (s) } }
            }
        }
    }
}

fn pending_summary(client: &ClientRecord, pending: &Pending) -> Markup {
    request_summary(
        client,
        &pending.scope,
        pending.resource.as_deref(),
        Some(&pending.redirect_uri),
    )
}

/// A page whose forms carry `csrf`, with its double-submit cookie.
pub(super) fn with_csrf(
    state: &AuthServer,
    status: u16,
    title: &str,
    csrf: &str,
    body: Markup,
) -> HttpResponse {
    let mut r = page(status, title, body);
    let _ = r.add_cookie(&csrf_cookie(state, csrf));
    r
}

/// The CSRF cookie of a form (double submit).
pub(super) fn csrf_cookie(state: &AuthServer, csrf: &str) -> Cookie<'static> {
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

/// The hidden fields every form of a pending request carries.
fn hidden(handle: &str, csrf: &str) -> Markup {
    html! {
        input type="hidden" name="request" value=(handle);
        input type="hidden" name="csrf" value=(csrf);
    }
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
    let body = html! {
        h1 { "Sign in to continue" }
        (pending_summary(client, pending))
        @if let Some(e) = failure {
            p.error role="alert" { (e) }
        }
        // One button per upstream identity provider; each is a form post,
        // so it carries the CSRF field like the password form.
        @for u in state.federation.list() {
            form method="post" action=(state.endpoint(&format!("/federate/{}", u.id))) {
                (hidden(handle, csrf))
                button.secondary type="submit" { "Sign in with " (u.name) " and allow" }
            }
        }
        @if state.config.local_login {
            form method="post" action=(state.endpoint("/login")) {
                (hidden(handle, csrf))
                label for="username" { "Username" }
                input #username name="username" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button.primary type="submit" { "Sign in and allow" }
            }
        }
    };
    headers(status)
        .cookie(csrf_cookie(state, csrf))
        .body(document("Sign in", body))
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
    let body = html! {
        h1 { "Allow access?" }
        p.meta { "Signed in as " strong { (user) } "." }
        (pending_summary(client, pending))
        form method="post" action=(state.endpoint("/consent")) {
            (hidden(handle, csrf))
            button.primary type="submit" name="decision" value="allow" autofocus { "Allow" }
            button.secondary type="submit" name="decision" value="deny" { "Deny" }
        }
    };
    headers(200)
        .cookie(csrf_cookie(state, csrf))
        .body(document("Allow access?", body))
}
