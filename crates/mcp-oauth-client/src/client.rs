//! [`OAuthClient`] and its builder: the configuration shared by every MCP
//! server an agent talks to, and the per-server sessions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::jose::{PemKeyError, encoding_key_from_pem};
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{AccessToken, ClientSecret};
use parking_lot::Mutex;

use crate::config::{AssertionKey, Config};
use crate::error::ClientError;
use crate::fetch::{default_http, require_secure};
use crate::login::Login;
use crate::session::{DEFAULT_LOGIN_TIMEOUT, Forgotten, Session};
use crate::store::{MemoryStore, Registration, TokenStore};
#[cfg(feature = "rmcp")]
use crate::transport::AuthorizedClient;

/// Builder of an [`OAuthClient`]; see [`OAuthClient::builder`].
///
/// ```
/// use std::time::Duration;
/// use mcp_oauth_client::{Login, MemoryStore, OAuthClient};
///
/// let client = OAuthClient::builder("my-agent")
///     .login(Login::Browser)
///     .token_store(MemoryStore::new())
///     .scope("mcp:tools")
///     .login_timeout(Duration::from_secs(120))
///     .build()?;
/// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
/// ```
pub struct OAuthClientBuilder {
    config: Config,
    http: Option<reqwest::Client>,
}

impl OAuthClientBuilder {
    /// How the user logs in (default: [`Login::Browser`]).
    ///
    /// ```
    /// use mcp_oauth_client::{Login, OAuthClient};
    ///
    /// let client = OAuthClient::builder("my-agent").login(Login::Browser).build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn login(mut self, login: Login) -> Self {
        self.config.login = login;
        self
    }

    /// Where registrations and tokens are kept (default: in memory).
    ///
    /// ```
    /// use mcp_oauth_client::{FileStore, OAuthClient};
    ///
    /// let client = OAuthClient::builder("my-agent")
    ///     .token_store(FileStore::encrypted("tokens.bin", [0u8; 32]))
    ///     .build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.config.store = store;
        self
    }

    /// A pre-registered public client id (used instead of registering), at
    /// the authorization server named with
    /// [`authorization_server`](Self::authorization_server), which
    /// [`build`](Self::build) requires with it.
    ///
    /// ```
    /// use mcp_oauth_client::OAuthClient;
    ///
    /// let client = OAuthClient::builder("my-agent")
    ///     .authorization_server("https://auth.example.com")
    ///     .client_id("my-agent-id")
    ///     .build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.config.preregistered = Some(Registration {
            client_id: client_id.into(),
            client_secret: None,
            redirect_uris: Vec::new(),
        });
        self
    }

    /// Pre-registered confidential client credentials (also what
    /// [`Login::ClientCredentials`] authenticates with). The secret is sent
    /// only to the token endpoint of the authorization server named with
    /// [`authorization_server`](Self::authorization_server), which
    /// [`build`](Self::build) requires with it.
    ///
    /// ```
    /// use mcp_oauth_client::{Login, OAuthClient};
    ///
    /// let client = OAuthClient::builder("my-service")
    ///     .authorization_server("https://auth.example.com")
    ///     .client_credentials("my-service-id", "my-service-secret")
    ///     .login(Login::ClientCredentials)
    ///     .build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
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
    /// (`ES256`, `EdDSA`, `RS256`, ...). Like every pre-registered identity,
    /// it is used at the authorization server named with
    /// [`authorization_server`](Self::authorization_server) only.
    ///
    /// A key that does not parse, or an unknown algorithm, is
    /// [`ClientError::PrivateKey`]:
    ///
    /// ```
    /// use mcp_oauth_client::{ClientError, OAuthClient};
    ///
    /// let refused = OAuthClient::builder("my-service").private_key_jwt(
    ///     "my-service-id",
    ///     "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    ///     "ES256",
    /// );
    /// assert!(matches!(refused, Err(ClientError::PrivateKey(_))));
    /// ```
    pub fn private_key_jwt(
        mut self,
        client_id: impl Into<String>,
        pem: &str,
        alg: &str,
    ) -> Result<Self, ClientError> {
        let alg: jsonwebtoken::Algorithm = alg.parse().map_err(ClientError::PrivateKey)?;
        let key = encoding_key_from_pem(pem, alg).map_err(|e| match e {
            PemKeyError::Unreadable { source, .. } => ClientError::PrivateKey(source),
            PemKeyError::NotAsymmetric(_) => {
                ClientError::Config("private_key_jwt needs an asymmetric algorithm".into())
            }
            other => ClientError::Config(other.to_string()),
        })?;
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
    ///
    /// ```
    /// use mcp_oauth_client::OAuthClient;
    ///
    /// let client = OAuthClient::builder("my-agent")
    ///     .metadata_document_url("https://agent.example.com/client.json")
    ///     .build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn metadata_document_url(mut self, url: impl Into<String>) -> Self {
        self.config.metadata_document_url = Some(url.into());
        self
    }

    /// The authorization server this agent trusts, by its issuer
    /// identifier: the only one it will use. An MCP server whose protected
    /// resource metadata names other authorization servers and not this one
    /// is refused with [`ClientError::UntrustedIssuer`] before anything is
    /// sent to them; one that names no authorization server (or, of the
    /// 2025-03-26 revision, publishes no metadata) is served by this one.
    ///
    /// Required by [`build`](Self::build) with a password login
    /// ([`Login::password`]) or a pre-registered client
    /// ([`client_id`](Self::client_id),
    /// [`client_credentials`](Self::client_credentials),
    /// [`private_key_jwt`](Self::private_key_jwt)): those belong to one
    /// server and must never reach another. It must be https (or http on a
    /// loopback host).
    ///
    /// ```
    /// use mcp_oauth_client::{ClientError, Login, OAuthClient};
    ///
    /// // Without the issuer, a password configuration is refused.
    /// let refused = OAuthClient::builder("my-agent")
    ///     .login(Login::password("alice", "secret"))
    ///     .build();
    /// assert!(matches!(refused, Err(ClientError::TrustedIssuerRequired(_))));
    ///
    /// let client = OAuthClient::builder("my-agent")
    ///     .authorization_server("https://auth.example.com")
    ///     .client_id("my-agent")
    ///     .login(Login::password("alice", "secret"))
    ///     .build()?;
    /// # let _ = client; Ok::<(), ClientError>(())
    /// ```
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.config.trusted_issuer = Some(issuer.into());
        self
    }

    /// Always ask for this scope (instead of the spec's selection).
    ///
    /// ```
    /// use mcp_oauth_client::OAuthClient;
    ///
    /// let client = OAuthClient::builder("my-agent").scope("mcp:tools mcp:read").build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn scope(mut self, scope: &str) -> Self {
        self.config.scope = Some(ScopeSet::parse_lossy(scope));
        self
    }

    /// The redirect URI to register and ask for, for clients whose
    /// callbacks are fixed (registered out of band, or allowed by a
    /// firewall): a browser login listens on it (`http://127.0.0.1:PORT/…`
    /// or `[::1]`), a [`Login::Callback`] receives whatever it is (https, a
    /// private-use scheme). Default: a loopback listener on an ephemeral
    /// port, registered as `http://127.0.0.1/callback`.
    ///
    /// ```
    /// use mcp_oauth_client::{Login, OAuthClient};
    ///
    /// let client = OAuthClient::builder("my-agent")
    ///     .redirect_uri("http://127.0.0.1:8765/oauth/done")
    ///     .build()?;
    /// # let _ = client;
    /// // A browser must be able to reach a browser login's listener:
    /// assert!(OAuthClient::builder("my-agent").redirect_uri("https://app.example/cb").build().is_err());
    /// # Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.config.redirect_uri = Some(uri.into());
        self
    }

    /// A fixed loopback port for the browser login:
    /// `http://127.0.0.1:{port}/callback` (see
    /// [`redirect_uri`](Self::redirect_uri)).
    ///
    /// ```
    /// let client = mcp_oauth_client::OAuthClient::builder("my-agent").redirect_port(8765).build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn redirect_port(self, port: u16) -> Self {
        self.redirect_uri(format!("http://127.0.0.1:{port}/callback"))
    }

    /// Time allowed for one login (default 5 minutes).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_oauth_client::OAuthClient;
    ///
    /// let client = OAuthClient::builder("my-agent")
    ///     .login_timeout(Duration::from_secs(60))
    ///     .build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn login_timeout(mut self, timeout: Duration) -> Self {
        self.config.login_timeout = timeout;
        self
    }

    /// The HTTP client used for OAuth and MCP requests. It must not follow
    /// redirects (the headless login reads them).
    ///
    /// ```
    /// use mcp_oauth_client::OAuthClient;
    ///
    /// let http = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .build()?;
    /// let client = OAuthClient::builder("my-agent").http_client(http).build()?;
    /// # let _ = client; Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the client, refusing configurations that could send a secret
    /// where it does not belong: a password login or a pre-registered client
    /// without [`authorization_server`](Self::authorization_server)
    /// ([`ClientError::TrustedIssuerRequired`]), an issuer that is neither
    /// https nor loopback http ([`ClientError::InsecureUrl`]), or
    /// [`Login::ClientCredentials`] without a secret or key.
    ///
    /// ```
    /// use mcp_oauth_client::{ClientError, Login, OAuthClient};
    ///
    /// let refused = OAuthClient::builder("my-service")
    ///     .authorization_server("https://auth.example.com")
    ///     .login(Login::ClientCredentials)
    ///     .build();
    /// assert!(matches!(refused, Err(ClientError::Config(_))));
    /// ```
    pub fn build(self) -> Result<OAuthClient, ClientError> {
        self.config.check()?;
        let http = match self.http {
            Some(h) => h,
            None => default_http()?,
        };
        Ok(OAuthClient {
            config: Arc::new(self.config),
            http,
            sessions: Mutex::new(HashMap::new()),
        })
    }
}

/// Logs an agent in to MCP servers; see the crate documentation. One
/// client serves any number of MCP servers, each with its own tokens; it is
/// cheap to share behind an `Arc`.
///
/// ```no_run
/// use mcp_oauth_client::{Login, OAuthClient};
///
/// # async fn run() -> Result<(), mcp_oauth_client::ClientError> {
/// let client = OAuthClient::builder("my-agent").login(Login::Browser).build()?;
/// let token = client.access_token("https://mcp.example.com/mcp").await?;
/// # let _ = token; Ok(()) }
/// ```
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
    ///
    /// ```
    /// let client = mcp_oauth_client::OAuthClient::builder("my-agent").build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn builder(client_name: impl Into<String>) -> OAuthClientBuilder {
        OAuthClientBuilder {
            config: Config {
                client_name: client_name.into(),
                login: Login::Browser,
                store: MemoryStore::new(),
                preregistered: None,
                metadata_document_url: None,
                trusted_issuer: None,
                scope: None,
                login_timeout: DEFAULT_LOGIN_TIMEOUT,
                assertion_key: None,
                redirect_uri: None,
            },
            http: None,
        }
    }

    /// The session of the MCP server at `mcp_url`, which must be https (or
    /// http on loopback): nothing, not even a token, is sent to it
    /// otherwise.
    fn session(&self, mcp_url: &str) -> Result<Arc<Session>, ClientError> {
        let resource = ResourceUri::parse(mcp_url)
            .map_err(|e| ClientError::invalid_url("MCP server URL", mcp_url, e))?;
        require_secure("MCP server URL", resource.as_str())?;
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

    /// Forgets the MCP server at `mcp_url`: revokes its refresh token at
    /// the authorization server (RFC 7009) when that offers revocation,
    /// then removes its tokens, its session record and the dynamic
    /// registration at that authorization server from the store. The next
    /// request to it logs in (and registers) anew.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth_client::OAuthClient) -> Result<(), mcp_oauth_client::ClientError> {
    /// let gone = client.forget("https://mcp.example.com/mcp").await?;
    /// if gone.had_tokens && !gone.revoked_at_server {
    ///     eprintln!("forgotten here; the server kept the grant until it expires");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn forget(&self, mcp_url: &str) -> Result<Forgotten, ClientError> {
        let session = self.session(mcp_url)?;
        let forgotten = session.forget().await?;
        self.sessions.lock().remove(session.url());
        Ok(forgotten)
    }

    /// An access token for the MCP server at `mcp_url`: the stored one,
    /// refreshed if due, or a new login (discovery without a challenge).
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth_client::OAuthClient) -> Result<(), mcp_oauth_client::ClientError> {
    /// let token = client.access_token("https://mcp.example.com/mcp").await?;
    /// let header = format!("Bearer {}", token.secret());
    /// # let _ = header; Ok(()) }
    /// ```
    pub async fn access_token(&self, mcp_url: &str) -> Result<AccessToken, ClientError> {
        let session = self.session(mcp_url)?;
        match session.current_token().await? {
            Some(t) => Ok(t),
            None => session.unauthorized(None, None).await,
        }
    }

    /// An HTTP client for rmcp that authorizes every request to `mcp_url`,
    /// which must be https (or http on loopback).
    ///
    /// ```
    /// use mcp_oauth_client::{ClientError, OAuthClient};
    ///
    /// let client = OAuthClient::builder("my-agent").build()?;
    /// let http = client.authorized_client("https://mcp.example.com/mcp")?;
    /// assert!(matches!(
    ///     client.authorized_client("http://mcp.example.com/mcp"),
    ///     Err(ClientError::InsecureUrl { .. })
    /// ));
    /// # let _ = http; Ok::<(), ClientError>(())
    /// ```
    #[cfg(feature = "rmcp")]
    pub fn authorized_client(&self, mcp_url: &str) -> Result<AuthorizedClient, ClientError> {
        Ok(AuthorizedClient::new(
            self.http.clone(),
            self.session(mcp_url)?,
        ))
    }

    /// rmcp's streamable-HTTP transport for `mcp_url`, logged in on demand:
    /// `().serve(client.transport(url)?).await`.
    ///
    /// ```no_run
    /// use rmcp::ServiceExt;
    ///
    /// # async fn run(client: mcp_oauth_client::OAuthClient) -> Result<(), Box<dyn std::error::Error>> {
    /// let mcp = ().serve(client.transport("https://mcp.example.com/mcp")?).await?;
    /// let tools = mcp.list_all_tools().await?;
    /// # let _ = tools; Ok(()) }
    /// ```
    #[cfg(feature = "rmcp")]
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

#[cfg(test)]
mod tests;
