//! Federated sign-in: `POST /federate/{id}` (the login page's "Sign in
//! with …" button) sends the browser to the upstream provider;
//! `GET /callback/{id}` receives it back, checks everything, and finishes
//! the MCP client's pending authorization with our own code.
//!
//! Between the two, a cookie holds the sign-in's `state`, `nonce`, PKCE
//! verifier and the pending request, signed by this server
//! (`typ: mcp-oauth-federation+jwt`), HttpOnly, SameSite=Lax (the return
//! from the upstream is a top-level navigation), limited to the callback
//! path (under an https issuer: `__Host-` prefixed, which needs path `/`,
//! so a sibling subdomain cannot plant one) and named after the `state`,
//! so parallel sign-ins in one browser
//! do not overwrite each other. A callback whose `state` has no matching
//! cookie is refused on a page and never redirected: that is a forged or
//! replayed response (login CSRF).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::device::UserCode;
use mcp_oauth_core::error::ErrorCode;
use mcp_oauth_core::secret::constant_time_eq;
use serde::{Deserialize, Serialize};

use super::redirect::{approve, code_redirect, csrf_ok, refuse};
use super::{pages, session};
use crate::app::AuthServer;
use crate::federation::UpstreamConfig;
use crate::federation::{FederationError, FlowSecrets, admit, printable};
use crate::oauth::audit::AuditKind;
use crate::oauth::login::SignedIn;
use crate::oauth::pending::Pending;
use crate::oauth::upstream_tokens;
use crate::storage::SignInMethod;

const FLOW_TYP: &str = "mcp-oauth-federation+jwt";
/// How long a person has to sign in upstream.
const FLOW_TTL: u64 = 600;
/// Cookie names carry this many characters of the `state`.
const STATE_PREFIX: usize = 16;

/// The signed cookie of one sign-in in progress.
#[derive(Serialize, Deserialize)]
struct Flow {
    iss: String,
    exp: u64,
    provider: String,
    /// The pending authorization request the sign-in finishes (empty for a
    /// sign-in at the device page).
    request: String,
    /// For a sign-in at the device page: the user code typed so far
    /// (canonical, or empty); the person returns to that page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    /// For a sign-in at the account page: the person returns there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    account: bool,
    #[serde(flatten)]
    secrets: FlowSecrets,
}

#[derive(Deserialize)]
struct StartForm {
    /// From the login page: the pending request.
    #[serde(default)]
    request: Option<String>,
    /// From the device page: the code typed so far.
    #[serde(default)]
    user_code: Option<String>,
    /// From the account page (any value).
    #[serde(default)]
    account: Option<String>,
    csrf: Option<String>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

fn cookie_name(app: &AuthServer, state: &str) -> String {
    let prefix: String = state.chars().take(STATE_PREFIX).collect();
    super::cookies::name(app, &format!("mcp_oauth_federation_{prefix}"))
}

fn callback_url(state: &AuthServer, id: &str) -> String {
    state.endpoint(&format!("/callback/{id}"))
}

fn callback_path(state: &AuthServer, id: &str) -> String {
    let narrow = url::Url::parse(&callback_url(state, id))
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/".into());
    super::cookies::path(state, narrow)
}

/// `POST /federate/{id}`: the login page's button for one upstream.
pub(super) async fn start(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(upstream) = state.federation.get(&id) else {
        return pages::message(
            404,
            "Unknown provider",
            "This sign-in option does not exist.",
        );
    };
    let Ok(form) = serde_urlencoded::from_bytes::<StartForm>(&body) else {
        return pages::error("The sign-in form is malformed. Go back and try again.");
    };
    // The button is consent to the request the page showed, so it must
    // come from our page (double-submit CSRF cookie).
    if !csrf_ok(&state, &req, form.csrf.as_deref()) {
        return pages::error("The login form has expired. Go back and try again.");
    }
    let account = form.account.is_some() && form.request.is_none();
    let (request, device) = match (form.request, form.user_code) {
        _ if account => (String::new(), None),
        (Some(request), _) => {
            if Pending::open(&state.keys, &request).is_none() {
                return pages::error(
                    "This login request has expired or is invalid. Start again from the application.",
                );
            }
            (request, None)
        }
        (None, Some(typed)) if state.config.device_flow => {
            let code = UserCode::parse(&typed).map(|c| c.as_str().to_owned());
            (String::new(), Some(code.unwrap_or_default()))
        }
        _ => return pages::error("The sign-in form is malformed. Go back and try again."),
    };
    let redirect_uri = callback_url(&state, &upstream.id);
    let (location, secrets) = match state
        .federation
        .authorization_url(&upstream.id, &redirect_uri)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(provider = %upstream.id, error = %e, "upstream unavailable");
            return unavailable_page(&upstream.name);
        }
    };
    let flow = Flow {
        iss: state.config.issuer.as_str().to_owned(),
        exp: state.now() + FLOW_TTL,
        provider: upstream.id.clone(),
        request,
        device,
        account,
        secrets,
    };
    let Ok(signed) = state.keys.sign_typed(&flow, FLOW_TYP) else {
        return pages::message(503, "Unavailable", "The server is temporarily unavailable.");
    };
    let cookie = Cookie::build(cookie_name(&state, &flow.secrets.state), signed)
        .path(callback_path(&state, &upstream.id))
        .http_only(true)
        .secure(state.config.issuer.is_https())
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(FLOW_TTL as i64))
        .finish();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish()
}

/// `GET /callback/{id}`: the upstream's authorization response.
pub(super) async fn callback(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(upstream) = state.federation.get(&id) else {
        return pages::message(
            404,
            "Unknown provider",
            "This sign-in option does not exist.",
        );
    };
    let query: CallbackQuery = match serde_urlencoded::from_str(req.query_string()) {
        Ok(q) => q,
        Err(_) => return pages::error("The identity provider's response is malformed."),
    };
    let not_ours = || {
        tracing::warn!(provider = %upstream.id, "callback without a matching sign-in (forged, replayed or expired)");
        pages::error(
            "This sign-in was not started in this browser, or has expired. Start again from the application.",
        )
    };
    // `state` first: until it matches this browser's cookie, nothing in the
    // response is trusted, and nothing is redirected.
    let Some(returned_state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return not_ours();
    };
    let name = cookie_name(&state, returned_state);
    let flow: Option<Flow> = req.cookie(&name).and_then(|c| {
        state
            .keys
            .verify_typed(c.value(), FLOW_TYP, &["exp", "iss"])
    });
    let Some(flow) = flow.filter(|f| {
        f.provider == upstream.id
            && constant_time_eq(f.secrets.state.as_bytes(), returned_state.as_bytes())
    }) else {
        return not_ours();
    };
    // The cookie is spent whatever happens next.
    let mut spent = Cookie::build(name, "")
        .path(callback_path(&state, &upstream.id))
        .finish();
    spent.make_removal();
    let back = match (&flow.device, flow.account) {
        (_, true) => Some(state.endpoint("/account")),
        (Some(user_code), _) if user_code.is_empty() => Some(state.endpoint("/device")),
        (Some(user_code), _) => Some(state.endpoint(&format!("/device?user_code={user_code}"))),
        (None, false) => None,
    };
    if let Some(back) = back {
        let mut r = page_sign_in(&state, &req, upstream, &query, &flow, back).await;
        let _ = r.add_cookie(&spent);
        return r;
    }
    let Some(pending) = Pending::open(&state.keys, &flow.request) else {
        let mut r =
            pages::error("This login request has expired. Start again from the application.");
        let _ = r.add_cookie(&spent);
        return r;
    };
    let finish = |mut r: HttpResponse| {
        let _ = r.add_cookie(&spent);
        r
    };
    if let Some(error) = query.error.as_deref() {
        tracing::info!(provider = %upstream.id, client_id = ?pending.client_id, error = %printable(error), "upstream refused the sign-in");
        let (code, text) = match error {
            "access_denied" => (
                ErrorCode::AccessDenied,
                "the sign-in was refused at the identity provider",
            ),
            "temporarily_unavailable" => (
                ErrorCode::TemporarilyUnavailable,
                "the identity provider is temporarily unavailable",
            ),
            _ => (
                ErrorCode::ServerError,
                "the identity provider could not sign the user in",
            ),
        };
        return finish(refuse(&state, &pending, code, text));
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        return finish(refuse(
            &state,
            &pending,
            ErrorCode::ServerError,
            "the identity provider returned no code",
        ));
    };
    let t = state.now();
    let outcome = state
        .federation
        .sign_in(
            &upstream.id,
            code,
            query.iss.as_deref(),
            &callback_url(&state, &upstream.id),
            &flow.secrets,
            t,
        )
        .await
        .and_then(|(who, tokens)| admit(upstream, &who).map(|()| (who, tokens)));
    let (who, tokens) = match outcome {
        Ok(signed) => signed,
        Err(e) => {
            tracing::warn!(provider = %upstream.id, client_id = ?pending.client_id, error = ?e.to_string(), "federated sign-in refused");
            state.metrics.login_failures.inc();
            let (code, text) = refusal(&e);
            return finish(refuse(&state, &pending, code, text));
        }
    };
    // Keep the person, and learn their generation (for the code and the
    // session), in one step that fails as a whole.
    let saved = async {
        state.storage.save_identity(who.clone()).await?;
        state.storage.subject(&who.subject).await
    };
    let generation = match saved.await {
        Ok(s) => s.generation,
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return finish(refuse(
                &state,
                &pending,
                ErrorCode::TemporarilyUnavailable,
                "storage is unavailable",
            ));
        }
    };
    tracing::info!(provider = %upstream.id, subject = ?who.subject, "federated sign-in");
    let address = super::client_address::of(&state, &req);
    let person = signed_in(&state, &who.subject, generation, t, &upstream.id, &address).await;
    // Choosing the provider on the page that described the request is
    // consent, as the password form's "Sign in and allow" is.
    let code = approve(&state, &pending, &person, true).await;
    if let (Some(tokens), Some(_)) = (&tokens, &code) {
        // Kept for the resource servers the operator allows to call the
        // provider as this person, bound to their grant to this client:
        // only once that grant is recorded, so a failed approval leaves no
        // tokens bound to a client without a grant.
        upstream_tokens::keep(
            state.storage(),
            &state.federation,
            (&who.subject, generation),
            &upstream.id,
            &pending.client_id,
            tokens,
            t,
        )
        .await;
    }
    let mut response = code_redirect(&state, &pending, code.as_ref());
    response.cookie(spent.clone());
    if let Some(cookie) = session::start(&state, &person, &address).await {
        response.cookie(cookie);
    }
    response.finish()
}

/// What the MCP client is told when a federated sign-in fails.
fn refusal(e: &FederationError) -> (ErrorCode, &'static str) {
    match e {
        e if e.is_transient() => (
            ErrorCode::TemporarilyUnavailable,
            "the identity provider is unavailable",
        ),
        FederationError::NotAllowed(_) => (
            ErrorCode::AccessDenied,
            "this account may not use this server",
        ),
        _ => (
            ErrorCode::AccessDenied,
            "the identity provider's answer could not be verified",
        ),
    }
}

fn unavailable_page(name: &str) -> HttpResponse {
    pages::message(
        502,
        "Sign-in unavailable",
        &format!("{name} cannot be reached right now. Try again in a moment."),
    )
}

/// The person who just signed in upstream, recorded in the audit trail.
async fn signed_in(
    state: &AuthServer,
    subject: &str,
    generation: u64,
    t: u64,
    provider: &str,
    address: &str,
) -> SignedIn {
    let entry = AuditKind::FederatedLogin
        .entry()
        .user(subject)
        .address(address);
    state
        .audit()
        .record(entry.detail("provider", provider))
        .await;
    SignedIn {
        subject: subject.to_owned(),
        generation,
        auth_time: t,
        method: SignInMethod::Federated,
    }
}

/// The return of a sign-in started at the device or account page: the
/// person is signed in here (a session), then sent `back` to the page (for
/// the device page, with the code typed so far, to confirm what the device
/// asks for).
async fn page_sign_in(
    state: &AuthServer,
    req: &HttpRequest,
    upstream: &UpstreamConfig,
    query: &CallbackQuery,
    flow: &Flow,
    back: String,
) -> HttpResponse {
    if query.error.is_some() {
        return pages::message(
            403,
            "Sign-in refused",
            &format!("{} did not sign you in.", upstream.name),
        );
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        return pages::error("The identity provider returned no code.");
    };
    let t = state.now();
    let outcome = state
        .federation
        .sign_in(
            &upstream.id,
            code,
            query.iss.as_deref(),
            &callback_url(state, &upstream.id),
            &flow.secrets,
            t,
        )
        .await
        .and_then(|(who, _)| admit(upstream, &who).map(|()| who));
    // A sign-in at a page belongs to no client's grant: the upstream's
    // tokens are not kept.
    let who = match outcome {
        Ok(who) => who,
        Err(e) => {
            tracing::warn!(provider = %upstream.id, error = ?e.to_string(), "federated sign-in at a page refused");
            state.metrics.login_failures.inc();
            return pages::message(403, "Sign-in refused", refusal(&e).1);
        }
    };
    let saved = async {
        state.storage.save_identity(who.clone()).await?;
        state.storage.subject(&who.subject).await
    };
    let generation = match saved.await {
        Ok(s) => s.generation,
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return pages::message(503, "Unavailable", "The server is temporarily unavailable.");
        }
    };
    tracing::info!(provider = %upstream.id, subject = ?who.subject, "federated sign-in at a page");
    let address = super::client_address::of(state, req);
    let person = signed_in(state, &who.subject, generation, t, &upstream.id, &address).await;
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, back))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(cookie) = session::start(state, &person, &address).await {
        response.cookie(cookie);
    }
    response.finish()
}
