//! Forgetting one MCP server: its stored tokens, session record and
//! dynamic registration go, and the refresh token is revoked at the
//! authorization server first (RFC 7009) when it offers revocation.

use mcp_oauth_core::token::ClientAuthParams;
use serde::Serialize;

use super::{Session, State, grant};
use crate::discovery::fetch_as_metadata;
use crate::error::ClientError;
use crate::fetch::require_secure;
use crate::store::{Registration, RegistrationKey, SessionRecord};

/// What [`OAuthClient::forget`](crate::OAuthClient::forget) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Forgotten {
    /// Something was stored for that server (and is gone now).
    pub had_tokens: bool,
    /// The authorization server confirmed the refresh token's revocation.
    /// False when there was none, the server offers no revocation
    /// endpoint, or it could not be reached (the local copy is gone
    /// anyway; the token then lives until it expires).
    pub revoked_at_server: bool,
}

/// The body of a revocation request (RFC 7009 §2.1).
#[derive(Serialize)]
struct RevocationForm<'a> {
    token: &'a str,
    token_type_hint: &'static str,
    #[serde(flatten)]
    client: ClientAuthParams,
}

impl Session {
    /// Forgets this MCP server; see [`Forgotten`].
    pub(crate) async fn forget(&self) -> Result<Forgotten, ClientError> {
        let mut st = self.state.lock().await;
        let store = self.config.store.as_ref();
        let key = self.session_key();
        let Some(index) = store.load_session(&key)? else {
            *st = State::default();
            return Ok(Forgotten::default());
        };
        let tokens_key = key.tokens_key(&index);
        let refresh = store
            .load_tokens(&tokens_key)?
            .and_then(|t| t.refresh_token);
        let registration_key =
            RegistrationKey::new(self.config.client_name.clone(), index.issuer.clone());
        let reg = match &self.config.preregistered {
            Some(r) if r.client_id == index.client_id => Some(r.clone()),
            _ => store
                .load_registration(&registration_key)?
                .filter(|r| r.client_id == index.client_id),
        }
        .unwrap_or(Registration {
            client_id: index.client_id.clone(),
            client_secret: None,
            redirect_uris: Vec::new(),
        });
        let revoked_at_server = match &refresh {
            Some(token) => self.revoke(&index, &reg, token.secret()).await,
            None => false,
        };
        store.remove_tokens(&tokens_key)?;
        store.remove_session(&key)?;
        if self.config.preregistered.is_none() {
            store.remove_registration(&registration_key)?;
        }
        *st = State::default();
        Ok(Forgotten {
            had_tokens: true,
            revoked_at_server,
        })
    }

    /// Revokes `token` at the authorization server of `index`, if it names
    /// a revocation endpoint; whether it answered 200. Best effort: every
    /// failure is logged and reads as false.
    async fn revoke(&self, index: &SessionRecord, reg: &Registration, token: &str) -> bool {
        let endpoint = match fetch_as_metadata(&self.http, &index.issuer).await {
            Ok(Ok(m)) => m.revocation_endpoint,
            _ => None,
        };
        let Some(endpoint) = endpoint else {
            tracing::info!(issuer = %index.issuer, "no revocation endpoint; the refresh token is only forgotten here");
            return false;
        };
        let Ok(target) = require_secure("revocation endpoint", &endpoint) else {
            return false;
        };
        let mut client = ClientAuthParams::default();
        let post = match grant::authenticate(
            &self.config,
            self.http.post(target),
            &index.issuer,
            reg,
            index.basic_auth,
            &mut client,
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "could not authenticate the revocation");
                return false;
            }
        };
        let form = RevocationForm {
            token,
            token_type_hint: "refresh_token",
            client,
        };
        match post.form(&form).send().await {
            Ok(r) if r.status().is_success() => true,
            Ok(r) => {
                tracing::warn!(status = %r.status(), "the authorization server refused the revocation");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "the revocation request failed");
                false
            }
        }
    }
}
