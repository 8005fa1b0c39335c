//! [`OAuthClient`] and its builder: the configuration shared by every MCP
//! server an agent talks to, and the per-server sessions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{AccessToken, ClientSecret};
use parking_lot::Mutex;

use crate::config::{AssertionKey, Config};
use crate::error::ClientError;
use crate::fetch::{default_http, require_secure};
use crate::login::Login;
use crate::session::{DEFAULT_LOGIN_TIMEOUT, Session};
use crate::store::{MemoryStore, Registration, TokenStore};
use crate::transport::AuthorizedClient;

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

    /// A pre-registered public client id (used instead of registering), at
    /// the authorization server named with
    /// [`authorization_server`](Self::authorization_server), which
    /// [`build`](Self::build) requires with it.
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
    pub fn private_key_jwt(
        mut self,
        client_id: impl Into<String>,
        pem: &str,
        alg: &str,
    ) -> Result<Self, ClientError> {
        let alg: jsonwebtoken::Algorithm = alg.parse().map_err(ClientError::PrivateKey)?;
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
        .map_err(ClientError::PrivateKey)?;
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

    /// Builds the client, refusing configurations that could send a secret
    /// where it does not belong: a password login or a pre-registered client
    /// without [`authorization_server`](Self::authorization_server)
    /// ([`ClientError::TrustedIssuerRequired`]), an issuer that is neither
    /// https nor loopback http ([`ClientError::InsecureUrl`]), or
    /// [`Login::ClientCredentials`] without a secret or key.
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
                trusted_issuer: None,
                scope: None,
                login_timeout: DEFAULT_LOGIN_TIMEOUT,
                assertion_key: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> OAuthClientBuilder {
        OAuthClient::builder("test-agent")
    }

    #[test]
    fn secrets_and_preregistered_clients_need_a_trusted_issuer() {
        // What private_key_jwt(..) sets, without a real key at hand.
        let mut jwt = builder().client_id("id");
        jwt.config.assertion_key = Some(AssertionKey {
            key: jsonwebtoken::EncodingKey::from_secret(b"not used"),
            alg: jsonwebtoken::Algorithm::HS256,
            kid: None,
        });
        for (what, b) in [
            ("password", builder().login(Login::password("alice", "pw"))),
            (
                "client secret",
                builder().client_credentials("id", "secret"),
            ),
            (
                "client secret (machine)",
                builder()
                    .client_credentials("id", "secret")
                    .login(Login::ClientCredentials),
            ),
            ("private_key_jwt", jwt),
            ("client id", builder().client_id("id")),
        ] {
            let err = b.build().unwrap_err();
            assert!(
                matches!(err, ClientError::TrustedIssuerRequired(_)),
                "{what}: {err}"
            );
        }
        // With the issuer, each builds; without secrets, none is needed.
        let ok = builder()
            .authorization_server("https://as.example")
            .client_credentials("id", "secret")
            .login(Login::password("alice", "pw"))
            .build();
        assert!(ok.is_ok());
        assert!(builder().login(Login::Browser).build().is_ok());
    }

    #[test]
    fn configured_urls_must_be_https_or_loopback() {
        let err = builder()
            .authorization_server("http://as.example.com")
            .client_id("id")
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ClientError::InsecureUrl { what, .. } if what.contains("issuer")),
            "{err}"
        );
        let err = builder()
            .authorization_server("https://as.example.com?x=1")
            .client_id("id")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::InvalidUrl {
                    source: crate::error::UrlError::Issuer(_),
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            builder()
                .authorization_server("http://127.0.0.1:9000")
                .client_id("id")
                .build()
                .is_ok()
        );
        let err = builder()
            .metadata_document_url("http://127.0.0.1/client.json")
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ClientError::InsecureUrl { .. }),
            "CIMD needs https: {err}"
        );
        // The MCP URL: refused before anything is sent.
        let client = builder().build().unwrap();
        for url in ["http://mcp.example.com/mcp", "http://192.168.1.5:8000/mcp"] {
            assert!(matches!(
                client.authorized_client(url),
                Err(ClientError::InsecureUrl {
                    what: "MCP server URL",
                    ..
                })
            ));
        }
        assert!(client.authorized_client("http://[::1]:8000/mcp").is_ok());
        assert!(
            client
                .authorized_client("https://mcp.example.com/mcp")
                .is_ok()
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let login = Login::password("alice", "hunter2-pw");
        let text = format!("{login:?}");
        assert!(
            text.contains("alice") && !text.contains("hunter2"),
            "{text}"
        );
    }
}
