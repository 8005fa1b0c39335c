//! [`OAuthClient`]: configuration shared by every MCP server an agent talks
//! to, and the per-server sessions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{AccessToken, ClientSecret};
use parking_lot::Mutex;

use crate::error::ClientError;
use crate::login::Login;
use crate::session::{DEFAULT_LOGIN_TIMEOUT, Session};
use crate::store::{MemoryStore, Registration, TokenStore};
use crate::transport::AuthorizedClient;

pub(crate) struct Config {
    pub(crate) client_name: String,
    pub(crate) login: Login,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) preregistered: Option<Registration>,
    pub(crate) metadata_document_url: Option<String>,
    pub(crate) issuer_override: Option<String>,
    pub(crate) scope: Option<ScopeSet>,
    pub(crate) login_timeout: Duration,
    pub(crate) assertion_key: Option<AssertionKey>,
}

/// A private key the pre-registered client signs `private_key_jwt`
/// assertions with.
pub(crate) struct AssertionKey {
    pub(crate) key: jsonwebtoken::EncodingKey,
    pub(crate) alg: jsonwebtoken::Algorithm,
    pub(crate) kid: Option<String>,
}

/// Builder of an [`OAuthClient`]; see [`OAuthClient::builder`].
pub struct OAuthClientBuilder {
    config: Config,
    http: Option<reqwest::Client>,
}

impl OAuthClientBuilder {
    /// How the user logs in (default: [`Login::Browser`]).
    pub fn login(mut self, login: Login) -> Self {
        self.config.login = login;
        self
    }

    /// Where registrations and tokens are kept (default: in memory).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.config.store = store;
        self
    }

    /// A pre-registered public client id (used instead of registering).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.config.preregistered = Some(Registration {
            client_id: client_id.into(),
            client_secret: None,
            redirect_uris: Vec::new(),
        });
        self
    }

    /// Pre-registered confidential client credentials (also what
    /// [`Login::ClientCredentials`] authenticates with).
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.config.preregistered = Some(Registration {
            client_id: client_id.into(),
            client_secret: Some(ClientSecret::new(secret.into())),
            redirect_uris: Vec::new(),
        });
        self
    }

    /// A pre-registered client that authenticates with `private_key_jwt`
    /// (RFC 7523): `pem` is its PKCS#8 private key, `alg` the JWS algorithm
    /// (`ES256`, `EdDSA`, `RS256`, ...).
    pub fn private_key_jwt(
        mut self,
        client_id: impl Into<String>,
        pem: &str,
        alg: &str,
    ) -> Result<Self, ClientError> {
        let alg: jsonwebtoken::Algorithm = alg
            .parse()
            .map_err(|_| ClientError::Config(format!("unknown signing algorithm {alg}")))?;
        let key = match alg {
            jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::ES384 => {
                jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes())
            }
            jsonwebtoken::Algorithm::EdDSA => {
                jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes())
            }
            jsonwebtoken::Algorithm::RS256
            | jsonwebtoken::Algorithm::RS384
            | jsonwebtoken::Algorithm::RS512
            | jsonwebtoken::Algorithm::PS256
            | jsonwebtoken::Algorithm::PS384
            | jsonwebtoken::Algorithm::PS512 => {
                jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
            }
            _ => {
                return Err(ClientError::Config(
                    "private_key_jwt needs an asymmetric algorithm".into(),
                ));
            }
        }
        .map_err(|e| ClientError::Config(format!("private key: {e}")))?;
        self.config.preregistered = Some(Registration {
            client_id: client_id.into(),
            client_secret: None,
            redirect_uris: Vec::new(),
        });
        self.config.assertion_key = Some(AssertionKey {
            key,
            alg,
            kid: None,
        });
        Ok(self)
    }

    /// The HTTPS URL of this client's metadata document, used as its
    /// `client_id` at servers that accept Client ID Metadata Documents.
    pub fn metadata_document_url(mut self, url: impl Into<String>) -> Self {
        self.config.metadata_document_url = Some(url.into());
        self
    }

    /// Use this authorization server instead of the one the MCP server
    /// names.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer_override = Some(issuer.into());
        self
    }

    /// Always ask for this scope (instead of the spec's selection).
    pub fn scope(mut self, scope: &str) -> Self {
        self.config.scope = Some(ScopeSet::parse_lossy(scope));
        self
    }

    /// Time allowed for one login (default 5 minutes).
    pub fn login_timeout(mut self, timeout: Duration) -> Self {
        self.config.login_timeout = timeout;
        self
    }

    /// The HTTP client used for OAuth and MCP requests. It must not follow
    /// redirects (the headless login reads them).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<OAuthClient, ClientError> {
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()?,
        };
        if matches!(self.config.login, Login::ClientCredentials)
            && self.config.assertion_key.is_none()
            && self
                .config
                .preregistered
                .as_ref()
                .is_none_or(|r| r.client_secret.is_none())
        {
            return Err(ClientError::Config(
                "Login::ClientCredentials needs client_credentials(id, secret) or private_key_jwt(...)".into(),
            ));
        }
        Ok(OAuthClient {
            config: Arc::new(self.config),
            http,
            sessions: Mutex::new(HashMap::new()),
        })
    }
}

/// Logs an agent in to MCP servers; see the crate documentation.
pub struct OAuthClient {
    config: Arc<Config>,
    http: reqwest::Client,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_name", &self.config.client_name)
            .field("login", &self.config.login)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// A builder for an agent called `client_name` (its registration name).
    pub fn builder(client_name: impl Into<String>) -> OAuthClientBuilder {
        OAuthClientBuilder {
            config: Config {
                client_name: client_name.into(),
                login: Login::Browser,
                store: MemoryStore::new(),
                preregistered: None,
                metadata_document_url: None,
                issuer_override: None,
                scope: None,
                login_timeout: DEFAULT_LOGIN_TIMEOUT,
                assertion_key: None,
            },
            http: None,
        }
    }

    fn session(&self, mcp_url: &str) -> Result<Arc<Session>, ClientError> {
        let resource = ResourceUri::parse(mcp_url)
            .map_err(|e| ClientError::Config(format!("MCP URL: {e}")))?;
        let mut sessions = self.sessions.lock();
        Ok(sessions
            .entry(resource.as_str().to_owned())
            .or_insert_with(|| {
                Arc::new(Session::new(
                    resource,
                    self.config.clone(),
                    self.http.clone(),
                ))
            })
            .clone())
    }

    /// An access token for the MCP server at `mcp_url`: the stored one,
    /// refreshed if due, or a new login (discovery without a challenge).
    pub async fn access_token(&self, mcp_url: &str) -> Result<AccessToken, ClientError> {
        let session = self.session(mcp_url)?;
        match session.current_token().await? {
            Some(t) => Ok(t),
            None => session.unauthorized(None, None).await,
        }
    }

    /// An HTTP client for rmcp that authorizes every request to `mcp_url`.
    pub fn authorized_client(&self, mcp_url: &str) -> Result<AuthorizedClient, ClientError> {
        Ok(AuthorizedClient::new(
            self.http.clone(),
            self.session(mcp_url)?,
        ))
    }

    /// rmcp's streamable-HTTP transport for `mcp_url`, logged in on demand:
    /// `().serve(client.transport(url)?).await`.
    pub fn transport(
        &self,
        mcp_url: &str,
    ) -> Result<rmcp::transport::StreamableHttpClientTransport<AuthorizedClient>, ClientError> {
        let client = self.authorized_client(mcp_url)?;
        let config =
            rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                mcp_url,
            );
        Ok(rmcp::transport::StreamableHttpClientTransport::with_client(
            client, config,
        ))
    }
}
