//! The login session: a cookie holding a server-signed JWT
//! (`typ: mcp-oauth-session+jwt`) that lets a returning user skip the
//! password until it expires, or until the user's grants and sessions are
//! ended (password change, removal, `user revoke`: the session carries the
//! subject's generation and dies when it moves on). HttpOnly,
//! SameSite=Lax, Secure under https.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};

use crate::app::AuthServer;

const SESSION_COOKIE: &str = "mcp_oauth_session";
const SESSION_TYP: &str = "mcp-oauth-session+jwt";

/// A signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Session {
    iss: String,
    /// The user.
    pub(super) sub: String,
    exp: u64,
    /// When the password was checked.
    pub(super) auth_time: u64,
    /// The subject's generation at sign-in.
    #[serde(default)]
    pub(super) generation: u64,
}

/// The session cookie to set after a password login.
pub(super) fn start(
    state: &AuthServer,
    user: &str,
    generation: u64,
    auth_time: u64,
) -> Option<Cookie<'static>> {
    let ttl = state.config.session_ttl.as_secs();
    let session = Session {
        iss: state.config.issuer.as_str().to_owned(),
        sub: user.to_owned(),
        exp: auth_time + ttl,
        auth_time,
        generation,
    };
    let token = state.keys.sign_typed(&session, SESSION_TYP).ok()?;
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

/// The valid session of this request, if any, whose user still exists.
pub(super) async fn current(state: &AuthServer, req: &HttpRequest) -> Option<Session> {
    let cookie = req.cookie(&super::cookies::name(state, SESSION_COOKIE))?;
    let t = state.now();
    let key = mcp_oauth_core::secret::token_hash(cookie.value());
    let session = match state.sessions.get(&key) {
        Some((sub, exp, auth_time, generation)) => Session {
            iss: state.config.issuer.as_str().to_owned(),
            sub,
            exp,
            auth_time,
            generation,
        },
        None => {
            let s: Session =
                state
                    .keys
                    .verify_typed(cookie.value(), SESSION_TYP, &["exp", "iss", "sub"])?;
            state.sessions.insert(
                key,
                (s.sub.clone(), s.exp, s.auth_time, s.generation),
                s.sub.len() + 32,
                s.exp,
                t,
            );
            s
        }
    };
    if session.exp <= t {
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
