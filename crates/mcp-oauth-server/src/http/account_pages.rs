//! The account page (`/account`): a person sees which applications may act
//! for them, where and since when, and takes any of that back; and signs
//! out. Same toolkit and protections as the login page ([`super::pages`]).

use actix_web::HttpResponse;
use actix_web::cookie::time::OffsetDateTime;
use maud::{Markup, html};

use super::pages;
use crate::app::AuthServer;
use crate::storage::{ClientRecord, Grant};

/// A grant as the page shows it, with its client (gone: `None`).
pub(super) struct Shown {
    pub(super) grant: Grant,
    pub(super) client: Option<ClientRecord>,
}

/// `YYYY-MM-DD HH:MM UTC`.
fn when(seconds: u64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).unwrap_or(0)) else {
        return seconds.to_string();
    };
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}

/// Sign in to see the account.
pub(super) fn sign_in(
    state: &AuthServer,
    csrf: &str,
    failure: Option<&str>,
    status: u16,
) -> HttpResponse {
    let body = html! {
        h1 { "Your account" }
        p.meta { "Sign in to see and manage the applications that can act for you." }
        @if let Some(e) = failure { p.error role="alert" { (e) } }
        @if state.config.local_login {
            form method="post" action=(state.endpoint("/account")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="step" value="signin";
                label for="username" { "Username" }
                input #username name="username" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button.primary type="submit" { "Sign in" }
            }
        }
        @for u in state.federation.list() {
            form method="post" action=(state.endpoint(&format!("/federate/{}", u.id))) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="account" value="1";
                button.secondary type="submit" { "Sign in with " (u.name) }
            }
        }
    };
    pages::with_csrf(state, status, "Your account", csrf, body)
}

fn grant_item(state: &AuthServer, csrf: &str, shown: &Shown) -> Markup {
    let g = &shown.grant.record;
    let name = shown
        .client
        .as_ref()
        .and_then(|c| c.metadata.client_name.as_deref())
        .unwrap_or(&g.client_id);
    let verified = shown.client.as_ref().is_some_and(ClientRecord::is_trusted);
    html! {
        li {
            p {
                strong { (name) }
                @if !verified { " " span.meta { "(name not verified by this server)" } }
            }
            p.meta {
                @if g.resource.is_empty() { "Any resource of this server" } @else { "At " code { (g.resource) } }
                br;
                "Permissions: "
                @for s in g.scope.split(' ').filter(|s| !s.is_empty()) { code { (s) } " " }
                br;
                "Allowed " (when(g.granted_at))
                @if g.device { ", on a device" }
                @if shown.grant.remembered { "; you will not be asked again" }
                @if shown.grant.live_refresh_families > 0 { "; it stays signed in" }
            }
            form method="post" action=(state.endpoint("/account")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="step" value="revoke";
                input type="hidden" name="client_id" value=(g.client_id);
                input type="hidden" name="resource" value=(g.resource);
                button.secondary type="submit" { "Remove access" }
            }
        }
    }
}

/// The signed-in person's grants, each with a button that takes it back,
/// and the sign-out button; `notice` says what just happened.
pub(super) fn overview(
    state: &AuthServer,
    csrf: &str,
    user: &str,
    grants: &[Shown],
    notice: Option<&str>,
) -> HttpResponse {
    let body = html! {
        h1 { "Your account" }
        p.meta { "Signed in as " strong { (user) } "." }
        @if let Some(n) = notice { p role="status" { strong { (n) } } }
        @if grants.is_empty() {
            p { "No application can act for you." }
        } @else {
            p { "These applications can act for you:" }
            ul { @for g in grants { (grant_item(state, csrf, g)) } }
        }
        form method="post" action=(state.endpoint("/logout")) {
            input type="hidden" name="csrf" value=(csrf);
            button.secondary type="submit" { "Sign out" }
        }
    };
    pages::with_csrf(state, 200, "Your account", csrf, body)
}
