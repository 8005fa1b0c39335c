//! `GET /authorize` (or `POST`, the same request as a form): validate the
//! authorization request, then, depending on
//! who is asking: a headless agent gets the pending request as JSON to post
//! credentials with (`POST /login`); a browser without a session gets the
//! login page; a signed-in user gets the consent page, or, with consent
//! already given for these scopes, is redirected straight back with `code`,
//! `state` and `iss` (RFC 9207).
//!
//! The pending request travels as a short-lived JWT signed by the server
//! (`typ: mcp-oauth-request+jwt`), so any instance can finish what another
//! started and nothing is stored before the user has decided.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::authorization::{AuthorizationRequest, MAX_NONCE_LEN};
use mcp_oauth_core::error::ErrorCode;
use mcp_oauth_core::pkce::PkceChallenge;
use mcp_oauth_core::redirect::redirect_uri_matches;
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::random_base64url;

use super::redirect::{complete, redirect_url, redirect_with};
use super::{pages, session};
use crate::app::AuthServer;
use crate::oauth::clients::ClientLookupError;
use crate::oauth::grants::issue::{resource_allowed, scope_allowed};
use crate::oauth::login::SignedIn;
use crate::oauth::pending::{PENDING_TTL, Pending};
use crate::storage::ClientRecord;
use crate::storage::SignInMethod;

/// `GET /authorize`: the request in the query.
pub(super) async fn authorize(state: web::Data<AuthServer>, req: HttpRequest) -> HttpResponse {
    match serde_urlencoded::from_str::<AuthorizationRequest>(req.query_string()) {
        Ok(query) => handle(state, req, query).await,
        Err(e) => pages::error(&format!("The authorization request is malformed: {e}.")),
    }
}

/// `POST /authorize` (OAuth 2.1 §4.1.1 allows it): the same request as a
/// form body. A cross-site post carries no session cookie (SameSite=Lax),
/// so it can only ever reach the login page.
pub(super) async fn authorize_post(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return pages::error(
            "The authorization request must be a form (application/x-www-form-urlencoded).",
        );
    }
    match serde_urlencoded::from_bytes::<AuthorizationRequest>(&body) {
        Ok(query) => handle(state, req, query).await,
        Err(e) => pages::error(&format!("The authorization request is malformed: {e}.")),
    }
}

async fn handle(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    query: AuthorizationRequest,
) -> HttpResponse {
    // Client and redirect URI first: until both are trusted, errors are
    // shown here and never redirected (no open redirector).
    let address = super::client_address::of(&state, &req);
    let client = match state.clients().get_for(&address, &query.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return pages::error(
                "The application asking for access is not registered with this server.",
            );
        }
        Err(ClientLookupError::Metadata(crate::cimd::CimdError::HostNotAllowed(host))) => {
            tracing::info!(client_id = ?query.client_id, %host, "client metadata document host refused");
            return pages::error(&format!(
                "This server does not accept applications described by {host}. \
                 Ask its operator to allow that site."
            ));
        }
        Err(ClientLookupError::Metadata(e)) => {
            // The details (addresses, fetch errors) stay in the log: shown
            // to the caller they would make this page a probe of the
            // server's network.
            tracing::info!(client_id = ?query.client_id, error = ?e.to_string(), "client metadata document refused");
            return pages::error(
                "The application's metadata document could not be fetched or is not valid.",
            );
        }
        Err(ClientLookupError::Throttled { retry_after }) => {
            tracing::info!(%address, "too many new client metadata documents");
            let r = pages::message(
                429,
                "Too many requests",
                "Too many new applications were announced from your address. Try again in a minute.",
            );
            return pages::with_retry_after(r, retry_after);
        }
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return pages::error("The server is temporarily unavailable.");
        }
    };
    let redirect_uri = match choose_redirect(&client, query.redirect_uri.as_deref()) {
        Some(r) => r,
        None => {
            return pages::error(
                "The redirect URI does not match any registered for this application.",
            );
        }
    };
    // Errors go back to a client the operator trusts at once; for anyone
    // else (open registration, metadata documents) the person sees the
    // error here first and follows a link back, so this server never
    // bounces a visitor to an arbitrary site unasked (RFC 9700 §4.11.2).
    let fail = |code: ErrorCode, description: &str| {
        let params = [
            ("error", Some(code.as_str())),
            ("error_description", Some(description)),
            ("state", query.state.as_deref()),
            ("iss", Some(state.config.issuer.as_str())),
        ];
        if client.is_trusted() {
            redirect_with(&redirect_uri, &params)
        } else {
            pages::error_with_return(description, &redirect_url(&redirect_uri, &params))
        }
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
    if let Err(msg) = scope_allowed(&state.config, &client, &scope) {
        return fail(ErrorCode::InvalidScope, &msg);
    }
    // The nonce is OpenID Connect's; with it off, it is ignored as
    // before.
    let nonce = query.nonce.clone().filter(|_| state.config.oidc);
    if nonce
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > MAX_NONCE_LEN)
    {
        return fail(
            ErrorCode::InvalidRequest,
            &format!("nonce must have 1 to {MAX_NONCE_LEN} characters"),
        );
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
        && !resource_allowed(&state.config, &client, r)
    {
        return fail(
            ErrorCode::InvalidTarget,
            "this resource is not served by this authorization server",
        );
    }
    let pending = Pending {
        iss: state.config.issuer.as_str().to_owned(),
        exp: state.now() + PENDING_TTL,
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        redirect_uri_sent: query.redirect_uri.is_some(),
        state: query.state.clone(),
        code_challenge: challenge.as_str().to_owned(),
        scope: scope.to_string(),
        resource: resource.map(|r| r.as_str().to_owned()),
        nonce,
    };
    if let Some(user) = &state.config.dev_auto_approve {
        tracing::warn!(client_id = ?pending.client_id, user = ?user,
            "authorization approved without a person (--dev-auto-approve; test-only)");
        let generation = match state.storage.subject(user).await {
            Ok(s) => s.generation,
            Err(e) => {
                tracing::error!(error = %e, "storage failure");
                return fail(ErrorCode::TemporarilyUnavailable, "storage is unavailable");
            }
        };
        let who = SignedIn {
            subject: user.clone(),
            generation,
            auth_time: state.now(),
            method: SignInMethod::AutoApprove,
        };
        return complete(&state, &pending, &who, false).await.finish();
    }
    // The headless login (a first-party agent posting the user's password)
    // exists only for clients the operator allowed it; everyone else gets
    // the page a person fills in.
    let wants_json = client.is_trusted()
        && client.policy.headless_login
        && state.config.local_login
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
    // A browser with a session, for a client it already allowed, goes
    // straight back: no page, so no signed request handle either.
    let user = if wants_json {
        None
    } else {
        session::current(&state, &req).await
    };
    let consented = match &user {
        None => false,
        Some(user) => match state
            .storage
            .consent(
                &user.sub,
                &client.client_id,
                pending.resource.as_deref().unwrap_or_default(),
            )
            .await
        {
            Ok(c) => c.is_some_and(|granted| scope.is_subset(&ScopeSet::parse_lossy(&granted))),
            Err(e) => {
                tracing::error!(error = %e, "storage failure");
                return fail(ErrorCode::TemporarilyUnavailable, "storage is unavailable");
            }
        },
    };
    if let (Some(user), true) = (&user, consented) {
        return complete(&state, &pending, &user.person(), false)
            .await
            .finish();
    }
    let handle = match pending.seal(&state.keys) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "could not sign the pending request");
            return fail(ErrorCode::ServerError, "the server could not continue");
        }
    };
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
    match user {
        None => pages::login(&state, &client, &pending, &handle, &csrf, None, 200),
        Some(user) => pages::consent(&state, &client, &pending, &handle, &csrf, &user.sub),
    }
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
