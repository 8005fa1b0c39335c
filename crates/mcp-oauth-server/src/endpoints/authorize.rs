//! `GET /authorize` and `POST /login`: validate the authorization request,
//! authenticate the user (HTML form, or a headless JSON POST), and redirect
//! back with `code`, `state` and `iss` (RFC 9207).
//!
//! The pending request travels as a short-lived JWT signed by the server
//! (`typ: mcp-oauth-request+jwt`), so any instance can finish what another
//! started and nothing is stored before the user has logged in.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::authorization::AuthorizationRequest;
use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
use mcp_oauth_core::pkce::PkceChallenge;
use mcp_oauth_core::redirect::redirect_uri_matches;
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{AuthorizationCode, constant_time_eq, random_base64url, token_hash};
use serde::{Deserialize, Serialize};

use crate::app::{AppState, now};
use crate::storage::{ClientRecord, CodeRecord};

const REQUEST_TYP: &str = "mcp-oauth-request+jwt";
const CSRF_COOKIE: &str = "mcp_oauth_csrf";
/// How long a user has to log in.
const PENDING_TTL: u64 = 600;

/// A validated authorization request waiting for the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    iss: String,
    exp: u64,
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    code_challenge: String,
    scope: String,
    resource: Option<String>,
}

pub(super) async fn authorize(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let query: AuthorizationRequest = match serde_urlencoded::from_str(req.query_string()) {
        Ok(q) => q,
        Err(e) => return error_page(&format!("The authorization request is malformed: {e}.")),
    };
    // Client and redirect URI first: until both are trusted, errors are
    // shown here and never redirected (no open redirector).
    let client = match state.storage.client(&query.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return error_page(
                "The application asking for access is not registered with this server.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return error_page("The server is temporarily unavailable.");
        }
    };
    let redirect_uri = match choose_redirect(&client, query.redirect_uri.as_deref()) {
        Some(r) => r,
        None => {
            return error_page(
                "The redirect URI does not match any registered for this application.",
            );
        }
    };
    let fail = |code: ErrorCode, description: &str| {
        redirect_with(
            &redirect_uri,
            &[
                ("error", Some(code.as_str())),
                ("error_description", Some(description)),
                ("state", query.state.as_deref()),
                ("iss", Some(state.config.issuer.as_str())),
            ],
        )
    };
    if query.response_type != "code" {
        return fail(
            ErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        );
    }
    if !client
        .metadata
        .effective_grant_types()
        .contains(&GrantType::AuthorizationCode)
    {
        return fail(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code grant",
        );
    }
    let challenge = match query.code_challenge.as_deref() {
        None => {
            return fail(
                ErrorCode::InvalidRequest,
                "code_challenge is required (PKCE S256)",
            );
        }
        Some(c) => match PkceChallenge::parse(c, query.code_challenge_method.as_deref()) {
            Ok(c) => c,
            Err(e) => return fail(ErrorCode::InvalidRequest, &e.to_string()),
        },
    };
    let scope = match query.scope.as_deref().map(ScopeSet::parse).transpose() {
        Ok(Some(s)) if !s.is_empty() => s,
        Ok(_) => state.config.default_scope.clone(),
        Err(e) => return fail(ErrorCode::InvalidScope, &e.to_string()),
    };
    if let Err(msg) = check_scope(&state, &client, &scope) {
        return fail(ErrorCode::InvalidScope, &msg);
    }
    let resource = match query
        .resource
        .as_deref()
        .map(ResourceUri::parse)
        .transpose()
    {
        Ok(r) => r,
        Err(e) => return fail(ErrorCode::InvalidTarget, &e.to_string()),
    };
    if let Some(r) = &resource
        && !resource_allowed(&state, r)
    {
        return fail(
            ErrorCode::InvalidTarget,
            "this resource is not served by this authorization server",
        );
    }
    let pending = Pending {
        iss: state.config.issuer.as_str().to_owned(),
        exp: now() + PENDING_TTL,
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        state: query.state.clone(),
        code_challenge: challenge.as_str().to_owned(),
        scope: scope.to_string(),
        resource: resource.map(|r| r.as_str().to_owned()),
    };
    let handle = match state.keys.sign_typed(&pending, REQUEST_TYP) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "could not sign the pending request");
            return fail(ErrorCode::ServerError, "the server could not continue");
        }
    };
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({
                "request": handle,
                "login_endpoint": state.endpoint("/login"),
                "client_name": client.metadata.client_name,
                "scope": pending.scope,
            }));
    }
    let csrf = match random_base64url(32) {
        Ok(c) => c,
        Err(_) => return fail(ErrorCode::ServerError, "the server could not continue"),
    };
    login_page(&state, &client, &pending, &handle, &csrf, None, 200)
}

fn choose_redirect(client: &ClientRecord, asked: Option<&str>) -> Option<String> {
    let registered = client.metadata.redirect_uris();
    match asked {
        Some(uri) => registered
            .iter()
            .any(|r| redirect_uri_matches(r, uri))
            .then(|| uri.to_owned()),
        None if registered.len() == 1 => Some(registered[0].clone()),
        None => None,
    }
}

fn check_scope(state: &AppState, client: &ClientRecord, scope: &ScopeSet) -> Result<(), String> {
    let supported: ScopeSet = state.config.scopes_supported.iter().cloned().collect();
    let allowed = client.metadata.scope.as_ref().unwrap_or(&supported);
    let extra = scope.difference(allowed);
    if extra.is_empty() {
        Ok(())
    } else {
        Err(format!("scope not allowed for this client: {extra}"))
    }
}

pub(super) fn resource_allowed(state: &AppState, resource: &ResourceUri) -> bool {
    state
        .config
        .allowed_resources
        .as_ref()
        .is_none_or(|list| list.iter().any(|r| r.matches(resource.as_str())))
}

fn redirect_with(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page("The redirect URI is invalid.");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The login form a user submits, or the JSON a headless agent posts.
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: mcp_oauth_core::secret::Password,
    request: String,
    #[serde(default)]
    csrf: Option<String>,
}

pub(super) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let form: Result<LoginForm, String> = if is_json {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    };
    let form = match form {
        Ok(f) => f,
        Err(e) => {
            return json_error(
                400,
                ErrorResponse::invalid_request(format!("malformed login: {e}")),
            );
        }
    };
    let Some(pending) =
        state
            .keys
            .verify_typed::<Pending>(&form.request, REQUEST_TYP, &["exp", "iss"])
    else {
        return error_page(
            "This login request has expired or is invalid. Start again from the application.",
        );
    };
    // Browsers must prove the form came from our page (double-submit
    // cookie, SameSite=Strict). JSON cannot be posted cross-site without a
    // CORS preflight, which this endpoint never grants.
    if !is_json {
        let cookie = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        let field = form.csrf.clone().unwrap_or_default();
        if cookie.is_empty() || !constant_time_eq(cookie.as_bytes(), field.as_bytes()) {
            return error_page("The login form has expired. Go back and try again.");
        }
    }
    let client = match state.storage.client(&pending.client_id).await {
        Ok(Some(c)) => c,
        _ => return error_page("The application asking for access is no longer registered."),
    };
    let address = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    if let Some(wait) = state
        .login_throttle
        .retry_after(&form.username, &address, now())
    {
        tracing::warn!(%address, "login throttled");
        let e = ErrorResponse::new(ErrorCode::Other("too_many_attempts".into()))
            .with_description("too many failed logins; try again later");
        let mut r = if is_json {
            json_error(429, e)
        } else {
            page(
                429,
                "Too many attempts",
                "Too many failed sign-ins. Wait a few minutes and try again.",
            )
        };
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let ok = check_credentials(&state, &form.username, form.password.secret()).await;
    if ok {
        state.login_throttle.success(&form.username);
    } else {
        state
            .login_throttle
            .failure(&form.username, &address, now());
        state.metrics.login_failures.inc();
        tracing::info!(client_id = %pending.client_id, %address, "failed login");
        if is_json {
            return json_error(
                401,
                ErrorResponse::new(ErrorCode::AccessDenied)
                    .with_description("invalid username or password"),
            );
        }
        let csrf = form.csrf.unwrap_or_default();
        return login_page(
            &state,
            &client,
            &pending,
            &form.request,
            &csrf,
            Some("Invalid username or password."),
            401,
        );
    }
    let code = match AuthorizationCode::generate() {
        Ok(c) => c,
        Err(_) => return error_page("The server could not continue."),
    };
    let t = now();
    let record = CodeRecord {
        code_hash: token_hash(code.secret()),
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.code_challenge.clone(),
        resource: pending.resource.clone(),
        scope: pending.scope.clone(),
        subject: form.username.clone(),
        auth_time: t,
        expires_at: t + state.config.code_ttl.as_secs(),
    };
    if let Err(e) = state.storage.insert_code(record).await {
        tracing::error!(error = %e, "storage failure");
        return error_page("The server is temporarily unavailable.");
    }
    tracing::info!(client_id = %pending.client_id, subject = %form.username, "authorization granted");
    redirect_with(
        &pending.redirect_uri,
        &[
            ("code", Some(code.secret())),
            ("state", pending.state.as_deref()),
            ("iss", Some(state.config.issuer.as_str())),
        ],
    )
}

/// Checks a username and password. Unknown users cost one argon2
/// verification too, so timing does not tell them apart.
async fn check_credentials(state: &AppState, username: &str, password: &str) -> bool {
    let stored = state.storage.user(username).await.ok().flatten();
    let hash = stored
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| crate::password::dummy_hash().to_owned());
    let password = password.to_owned();
    let matched =
        tokio::task::spawn_blocking(move || crate::password::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
    matched && stored.is_some()
}

fn json_error(status: u16, e: ErrorResponse) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(e)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page_headers(status: u16) -> actix_web::HttpResponseBuilder {
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

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);max-width:24rem;width:100%}h1{font-size:1.3rem;margin-top:0}label{display:block;margin-top:1rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem;font-size:1rem}button{margin-top:1.5rem;width:100%;padding:.6rem;font-size:1rem;background:#1f5fbf;color:#fff;border:0;border-radius:4px}button:focus,input:focus{outline:3px solid #f0b400}.error{color:#a40000;font-weight:600}.meta{color:#444;font-size:.9rem}";

fn error_page(message: &str) -> HttpResponse {
    page(400, "Authorization error", message)
}

fn page(status: u16, title: &str, message: &str) -> HttpResponse {
    page_headers(status).body(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><style>{STYLE}</style></head><body><main><h1>{title}</h1><p class=\"error\" role=\"alert\">{}</p></main></body></html>",
        escape(message),
        title = escape(title),
    ))
}

fn login_page(
    state: &AppState,
    client: &ClientRecord,
    pending: &Pending,
    handle: &str,
    csrf: &str,
    error: Option<&str>,
    status: u16,
) -> HttpResponse {
    let name = client
        .metadata
        .client_name
        .as_deref()
        .unwrap_or(&client.client_id);
    let host = url::Url::parse(&pending.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let error_html = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Sign in</title><style>{STYLE}</style></head><body><main>\
<h1>Sign in to continue</h1>\
<p><strong>{name}</strong> asks for access{resource}.</p>\
<p class=\"meta\">After you sign in you will be sent to <strong>{host}</strong>. Scopes: <code>{scope}</code></p>\
{error_html}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"request\" value=\"{handle}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"username\">Username</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in and allow</button></form></main></body></html>",
        name = escape(name),
        resource = pending
            .resource
            .as_deref()
            .map(|r| format!(" to <strong>{}</strong>", escape(r)))
            .unwrap_or_default(),
        host = escape(&host),
        scope = escape(&pending.scope),
        action = escape(&state.endpoint("/login")),
        handle = escape(handle),
        csrf = escape(csrf),
    );
    let secure = state.config.issuer.is_https();
    let cookie = Cookie::build(CSRF_COOKIE, csrf.to_owned())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish();
    page_headers(status).cookie(cookie).body(body)
}
