//! One MCP server's authorization state: discovery results, the client
//! identity at its authorization server ([`identity`]), and the tokens
//! ([`grant`]). All token work goes through one lock, so concurrent
//! requests share a single refresh or login; before a refresh the stored
//! tokens are read again, so agents (processes) that share a token store
//! use each other's refreshes instead of replaying a spent refresh token.

mod device;
mod forget;
mod grant;
mod identity;
mod jag;

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::challenge::BearerChallenge;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::AccessToken;
use mcp_oauth_core::token::TokenRequest;

pub use self::forget::Forgotten;
use self::grant::now;
use crate::config::Config;
use crate::discovery::{Discovered, discover_for_login, is_own_resource};
use crate::error::ClientError;
use crate::issuer::same_issuer;
use crate::login::Login;
use crate::store::{Registration, RegistrationKey, SessionKey, SessionRecord, Tokens};

/// Default time allowed for a login.
pub(crate) const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Default)]
struct State {
    discovered: Option<Discovered>,
    index: Option<SessionRecord>,
    tokens: Option<Tokens>,
    loaded: bool,
}

/// Authorization state for one MCP server URL.
pub(crate) struct Session {
    mcp_url: ResourceUri,
    config: Arc<Config>,
    http: reqwest::Client,
    state: tokio::sync::Mutex<State>,
}

/// How one authorization ended.
enum Attempt {
    /// With an access token (stored).
    Done(AccessToken),
    /// The token endpoint did not know the dynamic registration used; it
    /// was dropped, and another authorization may register anew.
    UnknownClient(ErrorResponse),
}

/// Whether `login` gets tokens without a person (so a new grant costs
/// nobody anything).
fn unattended(login: &Login) -> bool {
    matches!(
        login,
        Login::IdentityAssertion(_) | Login::ClientCredentials
    )
}

/// Whether the access token should be refreshed now.
fn due(tokens: &Tokens) -> bool {
    tokens.refresh_at.is_some_and(|r| r <= now())
}

impl Session {
    pub(crate) fn new(mcp_url: ResourceUri, config: Arc<Config>, http: reqwest::Client) -> Self {
        Self {
            mcp_url,
            config,
            http,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// The MCP server's canonical URL.
    pub(crate) fn url(&self) -> &str {
        self.mcp_url.as_str()
    }

    fn session_key(&self) -> SessionKey {
        SessionKey::new(self.config.client_name.clone(), self.mcp_url.as_str())
    }

    /// The index and tokens in the store, as this agent may use them: an
    /// index for another issuer than the trusted one (the configuration
    /// changed) or another resource is ignored.
    fn read_stored(&self) -> Result<(Option<SessionRecord>, Option<Tokens>), ClientError> {
        let store = self.config.store.as_ref();
        let Some(index) = store.load_session(&self.session_key())? else {
            return Ok((None, None));
        };
        let trusted = self
            .config
            .trusted_issuer
            .as_deref()
            .is_none_or(|t| same_issuer(t, &index.issuer));
        if !trusted || !is_own_resource(&index.resource, &self.mcp_url) {
            return Ok((None, None));
        }
        let tokens = store.load_tokens(&self.session_key().tokens_key(&index))?;
        Ok((Some(index), tokens))
    }

    fn load(&self, st: &mut State) -> Result<(), ClientError> {
        if !st.loaded {
            (st.index, st.tokens) = self.read_stored()?;
            st.loaded = true;
        }
        Ok(())
    }

    fn save(
        &self,
        st: &mut State,
        index: SessionRecord,
        tokens: Tokens,
    ) -> Result<(), ClientError> {
        let store = self.config.store.as_ref();
        let key = self.session_key();
        store.save_tokens(&key.tokens_key(&index), &tokens)?;
        store.save_session(&key, &index)?;
        st.index = Some(index);
        st.tokens = Some(tokens);
        Ok(())
    }

    /// A usable access token if one is at hand (refreshing it first when it
    /// is about to expire); `None` when a login is needed.
    pub(crate) async fn current_token(&self) -> Result<Option<AccessToken>, ClientError> {
        let mut st = self.state.lock().await;
        self.load(&mut st)?;
        let Some(tokens) = st.tokens.clone() else {
            return Ok(None);
        };
        if due(&tokens) {
            return match self.refresh(&mut st).await {
                Ok(t) => Ok(Some(t)),
                Err(e @ ClientError::ClientRefused { .. }) => Err(e),
                // No person to bother (an identity assertion, client
                // credentials): a new grant now, for the scopes held,
                // rather than the expiring token.
                Err(e) if unattended(&self.config.login) => {
                    tracing::debug!(error = %e, "no refresh; a new grant before expiry");
                    let held = Some(ScopeSet::parse_lossy(&tokens.scope)).filter(|s| !s.is_empty());
                    self.authorize(&mut st, None, held).await.map(Some)
                }
                Err(e) => {
                    tracing::info!(error = %e, "refresh before expiry failed; a new login will follow");
                    Ok(None)
                }
            };
        }
        Ok(Some(tokens.access_token))
    }

    /// After a 401: another request may already have a newer token; else
    /// refresh once; else log in again.
    pub(crate) async fn unauthorized(
        &self,
        sent: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<AccessToken, ClientError> {
        let mut st = self.state.lock().await;
        self.load(&mut st)?;
        if let Some(t) = &st.tokens
            && Some(t.access_token.secret()) != sent
        {
            return Ok(t.access_token.clone());
        }
        if sent.is_some() {
            match self.refresh(&mut st).await {
                Ok(t) => return Ok(t),
                Err(e @ ClientError::ClientRefused { .. }) => return Err(e),
                Err(e) => tracing::info!(error = %e, "refresh failed; logging in again"),
            }
        }
        let challenge = challenge.and_then(BearerChallenge::parse);
        self.authorize(&mut st, challenge.as_ref(), None).await
    }

    /// After a 403 `insufficient_scope`: authorize again with the union of
    /// the scopes held and the scopes the challenge names.
    #[cfg_attr(not(feature = "rmcp"), allow(dead_code))]
    pub(crate) async fn insufficient_scope(
        &self,
        sent: Option<&str>,
        challenge: &str,
    ) -> Result<AccessToken, ClientError> {
        let mut st = self.state.lock().await;
        self.load(&mut st)?;
        if let Some(t) = &st.tokens
            && Some(t.access_token.secret()) != sent
        {
            return Ok(t.access_token.clone());
        }
        let parsed = BearerChallenge::parse(challenge);
        let held = st
            .tokens
            .as_ref()
            .map(|t| ScopeSet::parse_lossy(&t.scope))
            .unwrap_or_default();
        let wanted = held.union(
            &parsed
                .as_ref()
                .and_then(|c| c.scope.clone())
                .unwrap_or_default(),
        );
        self.authorize(&mut st, parsed.as_ref(), Some(wanted)).await
    }

    async fn discovered(
        &self,
        st: &mut State,
        challenge: Option<&BearerChallenge>,
    ) -> Result<Discovered, ClientError> {
        if let Some(d) = &st.discovered
            && challenge.is_none_or(|c| c.resource_metadata.is_none())
        {
            return Ok(d.clone());
        }
        let d = discover_for_login(
            &self.http,
            &self.mcp_url,
            challenge,
            self.config.trusted_issuer.as_deref(),
            !matches!(self.config.login, Login::IdentityAssertion(_)),
        )
        .await?;
        st.discovered = Some(d.clone());
        Ok(d)
    }

    /// A full authorization: discovery, identity, login, token. When the
    /// token endpoint answers `invalid_client` for a dynamic registration
    /// (the server no longer knows it), the registration is dropped and
    /// the whole authorization runs once more with a new one; never more.
    async fn authorize(
        &self,
        st: &mut State,
        challenge: Option<&BearerChallenge>,
        wanted: Option<ScopeSet>,
    ) -> Result<AccessToken, ClientError> {
        match self.authorize_once(st, challenge, wanted.clone()).await? {
            Attempt::Done(t) => Ok(t),
            Attempt::UnknownClient(_) => match self.authorize_once(st, challenge, wanted).await? {
                Attempt::Done(t) => Ok(t),
                Attempt::UnknownClient(e) => Err(ClientError::Token(e)),
            },
        }
    }

    /// The server answered `invalid_client` for `client_id` at `issuer`:
    /// for a configured identity that is [`ClientError::ClientRefused`];
    /// a dynamic registration is dropped so the next login registers
    /// again. Gives back the answer otherwise.
    fn unknown_client(
        &self,
        issuer: &str,
        client_id: &str,
        error: ErrorResponse,
    ) -> Result<ErrorResponse, ClientError> {
        match identity::kind(&self.config, client_id) {
            identity::Kind::Preregistered => Err(ClientError::ClientRefused {
                client_id: client_id.to_owned(),
                error,
            }),
            identity::Kind::Dynamic => {
                identity::forget_dynamic(&self.config, issuer, client_id)?;
                Ok(error)
            }
            identity::Kind::MetadataDocument => Ok(error),
        }
    }

    /// One authorization; see [`Session::authorize`].
    async fn authorize_once(
        &self,
        st: &mut State,
        challenge: Option<&BearerChallenge>,
        wanted: Option<ScopeSet>,
    ) -> Result<Attempt, ClientError> {
        let d = self.discovered(st, challenge).await?;
        let token_endpoint = d.metadata.token_endpoint.clone().ok_or_else(|| {
            ClientError::Discovery("authorization server has no token endpoint".into())
        })?;
        let reg = identity::identity(&self.config, &self.http, &d).await?;
        // Scope: what the step-up needs, else the challenge's, else what
        // the resource advertises, else none.
        let scope = wanted
            .or_else(|| self.config.scope.clone())
            .or_else(|| challenge.and_then(|c| c.scope.clone()))
            .or_else(|| {
                d.scopes_supported
                    .as_ref()
                    .map(|s| s.iter().cloned().collect())
            })
            .unwrap_or_default();
        let basic = reg.client_secret.is_some()
            && d.metadata.supports_token_auth_method(
                &mcp_oauth_core::registration::ClientAuthMethod::ClientSecretBasic,
            );
        let at = grant::TokenEndpoint {
            config: &self.config,
            http: &self.http,
            discovered: &d,
            registration: &reg,
            url: &token_endpoint,
            basic,
        };
        let answer = if let Login::Device(prompt) = &self.config.login {
            at.device_login(&scope, prompt).await
        } else if let Login::IdentityAssertion(login) = &self.config.login {
            jag::run(&at, login, &scope).await
        } else {
            let mut request = if matches!(self.config.login, Login::ClientCredentials) {
                TokenRequest::client_credentials()
                    .scope(&scope)
                    .resource(&d.resource)
            } else {
                let (code, verifier, redirect_uri) =
                    grant::user_login(&self.config, &self.http, &d, &reg, &scope).await?;
                TokenRequest::authorization_code(code, redirect_uri, verifier).resource(&d.resource)
            };
            at.send(&mut request).await?.map_err(ClientError::Token)
        };
        let tokens = match answer {
            Ok(tokens) => tokens,
            Err(ClientError::Token(e)) if e.error == mcp_oauth_core::ErrorCode::InvalidClient => {
                let e = self.unknown_client(&d.issuer, &reg.client_id, e)?;
                if identity::kind(&self.config, &reg.client_id) == identity::Kind::Dynamic {
                    return Ok(Attempt::UnknownClient(e));
                }
                return Err(ClientError::Token(e));
            }
            Err(e) => return Err(e),
        };
        let tokens = grant::to_tokens(tokens, &scope, now());
        let access = tokens.access_token.clone();
        let index = SessionRecord::new(
            d.issuer.clone(),
            d.resource.clone(),
            reg.client_id.clone(),
            token_endpoint,
            basic,
        );
        self.save(st, index, tokens)?;
        Ok(Attempt::Done(access))
    }

    /// Refreshes the tokens. The store is read first: when another agent
    /// sharing it has refreshed since this one loaded them, its fresh
    /// access token is used as is, or its newer refresh token is the one
    /// presented, never the spent one held here.
    async fn refresh(&self, st: &mut State) -> Result<AccessToken, ClientError> {
        let held = st.tokens.clone();
        (st.index, st.tokens) = self.read_stored()?;
        let (Some(index), Some(tokens)) = (st.index.clone(), st.tokens.clone()) else {
            return Err(ClientError::Refresh(ErrorResponse::invalid_grant(
                "no stored tokens to refresh",
            )));
        };
        let replaced_elsewhere = held
            .as_ref()
            .is_none_or(|h| h.access_token != tokens.access_token);
        if replaced_elsewhere && !due(&tokens) {
            return Ok(tokens.access_token);
        }
        let Some(refresh) = tokens.refresh_token.clone() else {
            return Err(ClientError::Refresh(ErrorResponse::invalid_grant(
                "no refresh token",
            )));
        };
        let store = self.config.store.as_ref();
        let reg = match &self.config.preregistered {
            Some(r) if r.client_id == index.client_id => r.clone(),
            _ => store
                .load_registration(&RegistrationKey::new(
                    self.config.client_name.clone(),
                    index.issuer.clone(),
                ))?
                .filter(|r| r.client_id == index.client_id)
                .unwrap_or(Registration {
                    client_id: index.client_id.clone(),
                    client_secret: None,
                    redirect_uris: Vec::new(),
                }),
        };
        let mut request = TokenRequest::refresh_token(refresh).resource(&index.resource);
        let answer = grant::token_request(
            &self.config,
            &self.http,
            &index.token_endpoint,
            &index.issuer,
            &reg,
            index.basic_auth,
            &mut request,
        )
        .await?;
        match answer {
            Ok(response) => {
                let mut fresh =
                    grant::to_tokens(response, &ScopeSet::parse_lossy(&tokens.scope), now());
                if fresh.refresh_token.is_none() {
                    fresh.refresh_token = tokens.refresh_token.clone();
                }
                let access = fresh.access_token.clone();
                self.save(st, index, fresh)?;
                Ok(access)
            }
            Err(e) => {
                // A client the server no longer knows: a configured one is
                // an error for the caller; a dynamic registration is
                // dropped, and the login that follows registers again.
                let e = if e.error == mcp_oauth_core::ErrorCode::InvalidClient {
                    self.unknown_client(&index.issuer, &index.client_id, e)?
                } else {
                    e
                };
                // A refused refresh token (or one of a client the server
                // no longer knows) is dead: forget it, keep the rest
                // (unless another agent has stored newer tokens meanwhile).
                if matches!(
                    e.error,
                    mcp_oauth_core::ErrorCode::InvalidGrant
                        | mcp_oauth_core::ErrorCode::InvalidClient
                ) {
                    st.tokens = None;
                    let key = self.session_key().tokens_key(&index);
                    let stored = store.load_tokens(&key)?;
                    if stored.is_some_and(|s| s.refresh_token == tokens.refresh_token) {
                        store.remove_tokens(&key)?;
                    }
                }
                Err(ClientError::Refresh(e))
            }
        }
    }
}
