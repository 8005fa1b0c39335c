//! Answers that send the browser back to the client: the authorization
//! response (`code`, `state`, `iss` per RFC 9207) or an error, and the
//! double-submit CSRF check of the forms that lead there.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use mcp_oauth_core::error::ErrorCode;
use mcp_oauth_core::secret::{AuthorizationCode, constant_time_eq};

use super::cookies;
use crate::app::AuthServer;
use crate::oauth::login::SignedIn;
use crate::oauth::pending::Pending;

/// Whether the posted CSRF field equals the cookie (double submit).
pub(super) fn csrf_ok(state: &AuthServer, req: &HttpRequest, field: Option<&str>) -> bool {
    let cookie = req
        .cookie(&cookies::name(state, cookies::CSRF_COOKIE))
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let field = field.unwrap_or_default();
    !cookie.is_empty() && constant_time_eq(cookie.as_bytes(), field.as_bytes())
}

/// Issues the code for an approved request and redirects to the client;
/// records the grant and, with `remember`, the consent (for this client and
/// resource). The caller may add cookies.
pub(super) async fn complete(
    state: &AuthServer,
    pending: &Pending,
    who: &SignedIn,
    remember: bool,
) -> HttpResponseBuilder {
    let code = approve(state, pending, who, remember).await;
    code_redirect(state, pending, code.as_ref())
}

/// Records the grant (and with `remember` the consent) of an approved
/// request and issues its code; `None` when that failed (logged).
pub(super) async fn approve(
    state: &AuthServer,
    pending: &Pending,
    who: &SignedIn,
    remember: bool,
) -> Option<AuthorizationCode> {
    let approved = pending
        .approve(
            state.storage.as_ref(),
            state.audit(),
            state.config.code_ttl.as_secs(),
            who,
            remember,
            state.now(),
        )
        .await;
    approved
        .inspect_err(|e| tracing::error!(error = %e, "could not issue the authorization code"))
        .ok()
}

/// The redirect to the client with `code` (from [`approve`]), or a `503`
/// when it could not be issued. The caller may add cookies.
pub(super) fn code_redirect(
    state: &AuthServer,
    pending: &Pending,
    code: Option<&AuthorizationCode>,
) -> HttpResponseBuilder {
    match code {
        Some(code) => redirect_builder(
            &pending.redirect_uri,
            &[
                ("code", Some(code.secret())),
                ("state", pending.state.as_deref()),
                ("iss", Some(state.config.issuer.as_str())),
            ],
        ),
        None => {
            let mut r = HttpResponse::ServiceUnavailable();
            r.insert_header((header::CACHE_CONTROL, "no-store"));
            r
        }
    }
}

/// Redirects a refusal (`access_denied` and the like) to the client.
pub(super) fn refuse(
    state: &AuthServer,
    pending: &Pending,
    code: ErrorCode,
    description: &str,
) -> HttpResponse {
    redirect_with(
        &pending.redirect_uri,
        &[
            ("error", Some(code.as_str())),
            ("error_description", Some(description)),
            ("state", pending.state.as_deref()),
            ("iss", Some(state.config.issuer.as_str())),
        ],
    )
}

/// `redirect_uri` with `params` added to its query.
pub(super) fn redirect_url(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    if let Some(v) = v {
                        q.append_pair(k, v);
                    }
                }
            }
            url.into()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

fn redirect_builder(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> HttpResponseBuilder {
    let mut r = HttpResponse::Found();
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    r.insert_header((header::LOCATION, redirect_url(redirect_uri, params)));
    r
}

/// A `302 Found` to `redirect_uri` with `params`, never cached.
pub(super) fn redirect_with(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> HttpResponse {
    redirect_builder(redirect_uri, params).finish()
}
