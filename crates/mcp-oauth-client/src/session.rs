//! One MCP server's authorization state: discovery results, the client
//! identity at its authorization server, and the tokens. All token work
//! goes through one lock, so concurrent requests share a single refresh or
//! login.

use std::time::Duration;

use mcp_oauth_core::authorization::{AuthorizationRequest, AuthorizationResponse};
use mcp_oauth_core::challenge::BearerChallenge;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::pkce::{PkceChallenge, PkceVerifier};
use mcp_oauth_core::registration::{
    ApplicationType, ClientAuthMethod, ClientInformation, ClientMetadata, GrantType,
};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{AccessToken, random_base64url};
use mcp_oauth_core::token::{TokenRequest, TokenResponse};
use serde::{Deserialize, Serialize};

use crate::client::Config;
use crate::discovery::{Discovered, discover};
use crate::error::ClientError;
use crate::login::{self, Login, Redirect};
use crate::store::{Registration, Tokens, get_typed, put_typed};

/// Refresh at most this long before the access token expires.
const REFRESH_MARGIN: u64 = 30;

/// What a later process needs to reuse stored tokens without discovery.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Index {
    issuer: String,
    resource: String,
    client_id: String,
    token_endpoint: String,
    #[serde(default)]
    basic_auth: bool,
}

#[derive(Default)]
struct State {
    discovered: Option<Discovered>,
    index: Option<Index>,
    tokens: Option<Tokens>,
    loaded: bool,
}

/// Authorization state for one MCP server URL.
pub(crate) struct Session {
    mcp_url: ResourceUri,
    config: std::sync::Arc<Config>,
    http: reqwest::Client,
    state: tokio::sync::Mutex<State>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Session {
    pub(crate) fn new(
        mcp_url: ResourceUri,
        config: std::sync::Arc<Config>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            mcp_url,
            config,
            http,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    fn index_key(&self) -> String {
        format!(
            "session|{}|{}",
            self.config.client_name,
            self.mcp_url.as_str()
        )
    }

    fn tokens_key(index: &Index) -> String {
        format!(
            "tokens|{}|{}|{}",
            index.issuer, index.resource, index.client_id
        )
    }

    fn registration_key(&self, issuer: &str) -> String {
        format!("registration|{}|{issuer}", self.config.client_name)
    }

    fn load(&self, st: &mut State) -> Result<(), ClientError> {
        if st.loaded {
            return Ok(());
        }
        st.loaded = true;
        let store = self.config.store.as_ref();
        if let Some(index) = get_typed::<Index>(store, &self.index_key())? {
            st.tokens = get_typed::<Tokens>(store, &Self::tokens_key(&index))?;
            st.index = Some(index);
        }
        Ok(())
    }

    fn save(&self, st: &mut State, index: Index, tokens: Tokens) -> Result<(), ClientError> {
        let store = self.config.store.as_ref();
        put_typed(store, &Self::tokens_key(&index), &tokens)?;
        put_typed(store, &self.index_key(), &index)?;
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
        if tokens.refresh_at.is_some_and(|r| r <= now()) {
            return match self.refresh(&mut st).await {
                Ok(t) => Ok(Some(t)),
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
        if sent.is_some()
            && st
                .tokens
                .as_ref()
                .is_some_and(|t| t.refresh_token.is_some())
        {
            match self.refresh(&mut st).await {
                Ok(t) => return Ok(t),
                Err(e) => tracing::info!(error = %e, "refresh failed; logging in again"),
            }
        }
        let challenge = challenge.and_then(BearerChallenge::parse);
        self.authorize(&mut st, challenge.as_ref(), None).await
    }

    /// After a 403 `insufficient_scope`: authorize again with the union of
    /// the scopes held and the scopes the challenge names.
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
        let d = discover(
            &self.http,
            &self.mcp_url,
            challenge,
            self.config.issuer_override.as_deref(),
        )
        .await?;
        st.discovered = Some(d.clone());
        Ok(d)
    }

    /// The client identity at the discovered authorization server, in the
    /// spec's order: pre-registered, metadata document, dynamic registration.
    async fn identity(&self, d: &Discovered) -> Result<Registration, ClientError> {
        if let Some(r) = &self.config.preregistered {
            return Ok(r.clone());
        }
        if let Some(url) = &self.config.metadata_document_url
            && d.metadata.supports_client_id_metadata_documents()
        {
            return Ok(Registration {
                client_id: url.clone(),
                client_secret: None,
                redirect_uris: vec![login::LOOPBACK_REDIRECT.to_owned()],
            });
        }
        let store = self.config.store.as_ref();
        let key = self.registration_key(&d.issuer);
        if let Some(r) = get_typed::<Registration>(store, &key)? {
            return Ok(r);
        }
        let endpoint = d.metadata.registration_endpoint.as_deref().ok_or_else(|| {
            ClientError::Registration(format!(
                "{} offers no dynamic registration and no client id was configured",
                d.issuer
            ))
        })?;
        let request = ClientMetadata {
            client_name: Some(self.config.client_name.clone()),
            redirect_uris: Some(vec![login::LOOPBACK_REDIRECT.to_owned()]),
            grant_types: Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
            response_types: Some(vec![mcp_oauth_core::registration::ResponseType::Code]),
            token_endpoint_auth_method: Some(ClientAuthMethod::None),
            application_type: Some(ApplicationType::Native),
            ..Default::default()
        };
        let r = self.http.post(endpoint).json(&request).send().await?;
        if !r.status().is_success() {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            return Err(ClientError::Registration(format!("HTTP {status}: {body}")));
        }
        let info: ClientInformation = r
            .json()
            .await
            .map_err(|e| ClientError::Registration(format!("unreadable response: {e}")))?;
        let reg = Registration {
            client_id: info.client_id,
            client_secret: info.client_secret,
            redirect_uris: info.metadata.redirect_uris().to_vec(),
        };
        put_typed(store, &key, &reg)?;
        Ok(reg)
    }

    /// A full authorization: discovery, identity, login, token.
    async fn authorize(
        &self,
        st: &mut State,
        challenge: Option<&BearerChallenge>,
        wanted: Option<ScopeSet>,
    ) -> Result<AccessToken, ClientError> {
        let d = self.discovered(st, challenge).await?;
        let token_endpoint = d.metadata.token_endpoint.clone().ok_or_else(|| {
            ClientError::Discovery("authorization server has no token endpoint".into())
        })?;
        let reg = self.identity(&d).await?;
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
            && d.metadata
                .supports_token_auth_method(&ClientAuthMethod::ClientSecretBasic);
        let mut request = if matches!(self.config.login, Login::ClientCredentials) {
            TokenRequest::client_credentials()
                .scope(&scope)
                .resource(&d.resource)
        } else {
            let code_and_verifier = self.user_login(&d, &reg, &scope).await?;
            let (code, verifier, redirect_uri) = code_and_verifier;
            TokenRequest::authorization_code(code, redirect_uri, verifier).resource(&d.resource)
        };
        let tokens = self
            .token_request(&token_endpoint, &d.issuer, &reg, basic, &mut request)
            .await
            .map_err(ClientError::Token)?;
        let tokens = to_tokens(tokens, &scope);
        let access = tokens.access_token.clone();
        let index = Index {
            issuer: d.issuer.clone(),
            resource: d.resource.clone(),
            client_id: reg.client_id.clone(),
            token_endpoint,
            basic_auth: basic,
        };
        self.save(st, index, tokens)?;
        Ok(access)
    }

    async fn user_login(
        &self,
        d: &Discovered,
        reg: &Registration,
        scope: &ScopeSet,
    ) -> Result<
        (
            mcp_oauth_core::secret::AuthorizationCode,
            PkceVerifier,
            String,
        ),
        ClientError,
    > {
        let endpoint = d
            .metadata
            .authorization_endpoint
            .as_deref()
            .ok_or_else(|| {
                ClientError::Discovery("authorization server has no authorization endpoint".into())
            })?;
        let verifier =
            PkceVerifier::generate().map_err(|e| ClientError::Authorization(e.to_string()))?;
        let state = random_base64url(16).map_err(|e| ClientError::Authorization(e.to_string()))?;
        let redirect = Redirect::prepare(&self.config.login).await?;
        let redirect_uri = redirect.uri().to_owned();
        let url = AuthorizationRequest::new(
            &reg.client_id,
            &redirect_uri,
            &PkceChallenge::s256(&verifier),
        )
        .state(&state)
        .scope(scope.to_string())
        .resource(&d.resource)
        .to_url(endpoint)
        .map_err(|e| ClientError::Discovery(format!("invalid authorization endpoint: {e}")))?;
        let back = login::run(
            &self.config.login,
            &self.http,
            url,
            redirect,
            self.config.login_timeout,
        )
        .await?;
        check_arrival(&back, &redirect_uri)?;
        let response = AuthorizationResponse::from_query(back.query().unwrap_or_default())
            .map_err(|e| ClientError::Authorization(e.to_string()))?;
        let code = match response.validate(&state, &d.issuer, d.metadata.supports_iss_parameter()) {
            Ok(code) => code.clone(),
            Err(mcp_oauth_core::authorization::AuthorizationResponseError::Denied(e)) => {
                return Err(ClientError::Denied(e));
            }
            Err(e) => return Err(ClientError::Authorization(e.to_string())),
        };
        Ok((code, verifier, redirect_uri))
    }

    async fn token_request(
        &self,
        endpoint: &str,
        audience: &str,
        reg: &Registration,
        basic: bool,
        request: &mut TokenRequest,
    ) -> Result<TokenResponse, ErrorResponse> {
        let mut http = self.http.post(endpoint);
        if let Some(key) = &self.config.assertion_key
            && self
                .config
                .preregistered
                .as_ref()
                .is_some_and(|p| p.client_id == reg.client_id)
        {
            request.client.client_id = Some(reg.client_id.clone());
            request.client.client_assertion_type =
                Some(mcp_oauth_core::token::JWT_BEARER_ASSERTION_TYPE.to_owned());
            request.client.client_assertion = Some(mcp_oauth_core::secret::ClientSecret::new(
                sign_assertion(key, &reg.client_id, audience).map_err(|e| {
                    ErrorResponse::invalid_client(format!("cannot sign the client assertion: {e}"))
                })?,
            ));
            let response = http.form(&*request).send().await.map_err(|e| {
                ErrorResponse::new(mcp_oauth_core::ErrorCode::TemporarilyUnavailable)
                    .with_description(e.to_string())
            })?;
            return read_token_response(response).await;
        }
        match (&reg.client_secret, basic) {
            (Some(secret), true) => {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                http = http.basic_auth(enc(&reg.client_id), Some(enc(secret.secret())));
            }
            (Some(secret), false) => {
                request.client.client_id = Some(reg.client_id.clone());
                request.client.client_secret = Some(secret.clone());
            }
            (None, _) => request.client.client_id = Some(reg.client_id.clone()),
        }
        let response = http.form(&*request).send().await.map_err(|e| {
            ErrorResponse::new(mcp_oauth_core::ErrorCode::TemporarilyUnavailable)
                .with_description(e.to_string())
        })?;
        read_token_response(response).await
    }

    async fn refresh(&self, st: &mut State) -> Result<AccessToken, ClientError> {
        let (Some(index), Some(tokens)) = (st.index.clone(), st.tokens.clone()) else {
            return Err(ClientError::Config("nothing to refresh".into()));
        };
        let Some(refresh) = tokens.refresh_token.clone() else {
            return Err(ClientError::Refresh(ErrorResponse::invalid_grant(
                "no refresh token",
            )));
        };
        let store = self.config.store.as_ref();
        let reg = match &self.config.preregistered {
            Some(r) if r.client_id == index.client_id => r.clone(),
            _ => get_typed::<Registration>(store, &self.registration_key(&index.issuer))?
                .filter(|r| r.client_id == index.client_id)
                .unwrap_or(Registration {
                    client_id: index.client_id.clone(),
                    client_secret: None,
                    redirect_uris: Vec::new(),
                }),
        };
        let mut request = TokenRequest::refresh_token(refresh).resource(&index.resource);
        match self
            .token_request(
                &index.token_endpoint,
                &index.issuer,
                &reg,
                index.basic_auth,
                &mut request,
            )
            .await
        {
            Ok(response) => {
                let mut fresh = to_tokens(response, &ScopeSet::parse_lossy(&tokens.scope));
                if fresh.refresh_token.is_none() {
                    fresh.refresh_token = tokens.refresh_token.clone();
                }
                let access = fresh.access_token.clone();
                self.save(st, index, fresh)?;
                Ok(access)
            }
            Err(e) => {
                // A refused refresh token is dead: forget it, keep the rest.
                if e.error == mcp_oauth_core::ErrorCode::InvalidGrant {
                    st.tokens = None;
                    store.remove(&Self::tokens_key(&index))?;
                }
                Err(ClientError::Refresh(e))
            }
        }
    }
}

async fn read_token_response(response: reqwest::Response) -> Result<TokenResponse, ErrorResponse> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        serde_json::from_str(&text)
            .map_err(|e| ErrorResponse::invalid_request(format!("unreadable token response: {e}")))
    } else {
        Err(serde_json::from_str(&text).unwrap_or_else(|_| {
            ErrorResponse::new(mcp_oauth_core::ErrorCode::Other(format!(
                "http_{}",
                status.as_u16()
            )))
            .with_description(text.chars().take(200).collect::<String>())
        }))
    }
}

/// An RFC 7523 client assertion for the issuer, valid one minute.
fn sign_assertion(
    key: &crate::client::AssertionKey,
    client_id: &str,
    audience: &str,
) -> Result<String, String> {
    let mut header = jsonwebtoken::Header::new(key.alg);
    header.kid = key.kid.clone();
    let t = now();
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": t, "exp": t + 60,
        "jti": random_base64url(16).map_err(|e| e.to_string())?,
    });
    jsonwebtoken::encode(&header, &claims, &key.key).map_err(|e| e.to_string())
}

fn to_tokens(r: TokenResponse, asked: &ScopeSet) -> Tokens {
    let t = now();
    Tokens {
        expires_at: r.expires_in.map(|s| t + s),
        refresh_at: r.expires_in.map(|s| t + s - (s / 4).min(REFRESH_MARGIN)),
        scope: r
            .scope
            .map(|s| s.to_string())
            .unwrap_or_else(|| asked.to_string()),
        access_token: r.access_token,
        refresh_token: r.refresh_token,
    }
}

/// Default time allowed for a login.
pub(crate) const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The authorization response must arrive at our redirect URI (scheme, host
/// and path; a loopback port may differ, RFC 8252 §7.3). A code that was
/// delivered anywhere else has been seen by someone else and is not used.
fn check_arrival(back: &url::Url, redirect_uri: &str) -> Result<(), ClientError> {
    let ours = url::Url::parse(redirect_uri)
        .map_err(|e| ClientError::Config(format!("invalid redirect URI: {e}")))?;
    if back.scheme() == ours.scheme()
        && back.host_str() == ours.host_str()
        && back.path() == ours.path()
        && back.username().is_empty()
        && back.password().is_none()
    {
        Ok(())
    } else {
        Err(ClientError::Authorization(format!(
            "the authorization response arrived at {}://{}{}, not at our redirect URI",
            back.scheme(),
            back.host_str().unwrap_or_default(),
            back.path()
        )))
    }
}
