//! The pages of the device verification flow (`/device`): sign in, type
//! the code, confirm what the device asks for. Same toolkit and
//! protections as the login page ([`super::pages`]).

use actix_web::HttpResponse;
use maud::{Markup, html};

use super::pages;
use crate::app::AuthServer;
use crate::storage::{ClientRecord, DeviceRecord};

/// The form fields every step carries.
fn hidden(csrf: &str, step: &str) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf);
        input type="hidden" name="step" value=(step);
    }
}

fn code_field(user_code: &str) -> Markup {
    html! {
        label for="user_code" { "Code shown on your device" }
        input #user_code name="user_code" value=(user_code) autocomplete="one-time-code"
            autocapitalize="characters" spellcheck="false" required;
    }
}

/// Sign in, with the code (prefilled when the device's link carried it).
pub(super) fn sign_in(
    state: &AuthServer,
    csrf: &str,
    user_code: &str,
    failure: Option<&str>,
    status: u16,
) -> HttpResponse {
    let body = html! {
        h1 { "Connect a device" }
        p.meta { "Sign in, then check what the device asks for before you allow it." }
        @if let Some(e) = failure { p.error role="alert" { (e) } }
        @if state.config.local_login {
            form method="post" action=(state.endpoint("/device")) {
                (hidden(csrf, "signin"))
                (code_field(user_code))
                label for="username" { "Username" }
                input #username name="username" autocomplete="username" required;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button.primary type="submit" { "Sign in" }
            }
        }
        // Signing in upstream brings the person back here, signed in, with
        // the code carried over.
        @for u in state.federation.list() {
            form method="post" action=(state.endpoint(&format!("/federate/{}", u.id))) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="user_code" value=(user_code);
                button.secondary type="submit" { "Sign in with " (u.name) }
            }
        }
    };
    pages::with_csrf(state, status, "Connect a device", csrf, body)
}

/// Type the code (signed in as `user`).
pub(super) fn enter_code(
    state: &AuthServer,
    csrf: &str,
    user: &str,
    user_code: &str,
    failure: Option<&str>,
    status: u16,
) -> HttpResponse {
    let body = html! {
        h1 { "Connect a device" }
        p.meta { "Signed in as " strong { (user) } "." }
        @if let Some(e) = failure { p.error role="alert" { (e) } }
        form method="post" action=(state.endpoint("/device")) {
            (hidden(csrf, "code"))
            (code_field(user_code))
            button.primary type="submit" { "Continue" }
        }
    };
    pages::with_csrf(state, status, "Connect a device", csrf, body)
}

/// What the device asks for, to allow or deny.
pub(super) fn confirm(
    state: &AuthServer,
    csrf: &str,
    user: &str,
    client: &ClientRecord,
    device: &DeviceRecord,
) -> HttpResponse {
    let body = html! {
        h1 { "Allow this device?" }
        p.meta { "Signed in as " strong { (user) } "." }
        p { "Code: " strong { (device.user_code) } ". Check that your device shows the same code." }
        // RFC 8628 §5.4: a code can be sent to a person by someone else
        // (phishing); the device that gets the access is theirs.
        p.error role="alert" {
            "Only continue if you started this yourself, on a device in front of you. "
            "Never enter a code that someone sent you: whoever holds the device gets this access."
        }
        (pages::request_summary(client, &device.scope, device.resource.as_deref(), None))
        form method="post" action=(state.endpoint("/device")) {
            (hidden(csrf, "decide"))
            input type="hidden" name="user_code" value=(device.user_code);
            button.primary type="submit" name="decision" value="allow" { "Allow" }
            button.secondary type="submit" name="decision" value="deny" { "Deny" }
        }
    };
    pages::with_csrf(state, 200, "Allow this device?", csrf, body)
}
