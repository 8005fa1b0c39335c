//! The login session: a cookie holding a server-signed JWT
//! (`typ: mcp-oauth-session+jwt`) naming a session kept in storage, which
//! lets a returning person skip the password until it expires, they sign
//! out, an operator ends it (`session revoke`), or their grants and
//! sessions are ended (password change, removal, `user revoke`: the
//! session also carries the subject's generation and dies when it moves
//! on). HttpOnly, SameSite=Lax, Secure under https.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse};
use mcp_oauth_core::secret::{random_base64url, token_hash};

use super::pages;
use crate::app::AuthServer;
use crate::oauth::audit::AuditKind;
use crate::oauth::login::{SessionClaims, SignIn, SignedIn};
use crate::storage::{SessionRecord, SignInMethod};

const SESSION_COOKIE: &str = "mcp_oauth_session";
const SESSION_TYP: &str = "mcp-oauth-session+jwt";

/// Starts a session for `who` (stored, so it can be listed and ended) and
/// returns the cookie that carries it; `None` when it could not be stored
/// or signed (the person then simply signs in again next time).
pub(super) async fn start(
    state: &AuthServer,
    who: &SignedIn,
    address: &str,
) -> Option<Cookie<'static>> {
    let ttl = state.config.session_ttl.as_secs();
    let sid = random_base64url(32).ok()?;
    let claims = SessionClaims {
        iss: state.config.issuer.as_str().to_owned(),
        sub: who.subject.clone(),
        exp: who.auth_time + ttl,
        auth_time: who.auth_time,
        generation: who.generation,
        sid,
        method: who.method,
    };
    let record = SessionRecord::new(
        token_hash(&claims.sid),
        &who.subject,
        who.method,
        who.auth_time,
        claims.exp,
    )
    .address(address);
    if let Err(e) = state.storage.insert_session(record).await {
        tracing::error!(error = %e, "could not store a session");
        return None;
    }
    let token = state.keys.sign_typed(&claims, SESSION_TYP).ok()?;
    Some(
        Cookie::build(super::cookies::name(state, SESSION_COOKIE), token)
            .path("/")
            .http_only(true)
            .secure(state.config.issuer.is_https())
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::seconds(
                i64::try_from(ttl).unwrap_or(i64::MAX),
            ))
            .finish(),
    )
}

/// The password sign-in of a page (device, account): the person, or the
/// page that answers instead: `refused` (the form again) for a wrong
/// password, a message for a throttled, busy or failed attempt.
pub(super) async fn password_sign_in(
    state: &AuthServer,
    username: &str,
    password: &str,
    address: &str,
    refused: impl FnOnce() -> HttpResponse,
) -> Result<SignedIn, HttpResponse> {
    let t = state.now();
    match state
        .password_login()
        .sign_in(username, password, address, t)
        .await
    {
        Ok(SignIn::Accepted { generation }) => Ok(SignedIn {
            subject: username.to_owned(),
            generation,
            auth_time: t,
            method: SignInMethod::Password,
        }),
        Ok(SignIn::Refused) => Err(refused()),
        Ok(SignIn::Throttled { retry_after }) => {
            let r = pages::message(
                429,
                "Too many attempts",
                "Too many sign-in attempts. Wait a few minutes and try again.",
            );
            Err(pages::with_retry_after(r, retry_after))
        }
        Ok(SignIn::Busy(_)) => {
            let r = pages::message(503, "Busy", "The server is busy. Try again in a moment.");
            Err(pages::with_retry_after(r, 1))
        }
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            Err(pages::message(
                503,
                "Unavailable",
                "The server is temporarily unavailable.",
            ))
        }
    }
}

/// The signed claims of this request's session cookie, if its signature
/// holds and it has not expired (storage not consulted).
fn claims(state: &AuthServer, req: &HttpRequest) -> Option<SessionClaims> {
    let cookie = req.cookie(&super::cookies::name(state, SESSION_COOKIE))?;
    let t = state.now();
    let key = token_hash(cookie.value());
    let claims = match state.sessions.get(&key) {
        Some(c) => c,
        None => {
            let c: SessionClaims =
                state
                    .keys
                    .verify_typed(cookie.value(), SESSION_TYP, &["exp", "iss", "sub"])?;
            let bytes = c.sub.len() + c.sid.len() + 64;
            state.sessions.insert(key, c.clone(), bytes, c.exp, t);
            c
        }
    };
    (claims.exp > t).then_some(claims)
}

/// The valid session of this request, if any: signed by us, unexpired,
/// still kept in storage (not signed out or ended), of the subject's
/// current generation, whose person still exists.
pub(super) async fn current(state: &AuthServer, req: &HttpRequest) -> Option<SessionClaims> {
    let session = claims(state, req)?;
    let stored = state
        .storage
        .session(&token_hash(&session.sid))
        .await
        .ok()??;
    if stored.subject != session.sub || stored.expires_at <= state.now() {
        return None;
    }
    let current = state.storage.subject(&session.sub).await.ok()?;
    if current.generation != session.generation {
        return None;
    }
    // A federated person must still be known and their provider still
    // configured; a local user must still exist.
    match session.sub.split_once(':') {
        Some((provider, _)) => {
            state.federation.get(provider)?;
            state.storage.identity(&session.sub).await.ok().flatten()?;
        }
        None if !state.config.local_login => return None,
        None => {
            state.storage.user(&session.sub).await.ok().flatten()?;
        }
    }
    Some(session)
}

/// Ends this request's session, if it has one (sign-out), and records it.
/// Returns the cookie that clears it in the browser either way.
pub(super) async fn end(state: &AuthServer, req: &HttpRequest, address: &str) -> Cookie<'static> {
    if let Some(session) = claims(state, req) {
        match state
            .storage
            .delete_session(&token_hash(&session.sid))
            .await
        {
            Ok(true) => {
                let entry = AuditKind::Logout.entry().user(&session.sub);
                state.audit().record(entry.address(address)).await;
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "could not end a session"),
        }
    }
    let mut gone = Cookie::build(super::cookies::name(state, SESSION_COOKIE), "")
        .path("/")
        .http_only(true)
        .secure(state.config.issuer.is_https())
        .same_site(SameSite::Lax)
        .finish();
    gone.make_removal();
    gone
}
