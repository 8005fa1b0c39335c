//! Cookie names and scopes. Under an https issuer every cookie carries the
//! `__Host-` prefix: the browser then accepts it only if it is `Secure`,
//! has `Path=/` and no `Domain`, so a sibling subdomain cannot plant
//! ("toss") a CSRF, session or sign-in cookie of its own and defeat the
//! double-submit check (login CSRF). Under a plain-http issuer (local
//! development and tests) the prefix cannot be used and the bare names
//! are.

use crate::app::AuthServer;

/// The double-submit CSRF cookie of the login and consent forms.
pub(super) const CSRF_COOKIE: &str = "mcp_oauth_csrf";

/// The name of the cookie `base` on this server.
pub(super) fn name(state: &AuthServer, base: &str) -> String {
    if state.config.issuer.is_https() {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The path of a cookie that would otherwise be limited to `narrow`:
/// `/` under https (the prefix demands it), `narrow` otherwise.
pub(super) fn path(state: &AuthServer, narrow: String) -> String {
    if state.config.issuer.is_https() {
        "/".to_owned()
    } else {
        narrow
    }
}
