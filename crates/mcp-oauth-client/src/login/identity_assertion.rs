//! Enterprise-managed authorization (the MCP extension
//! `io.modelcontextprotocol/enterprise-managed-authorization`): the person
//! signed in to the agent through the enterprise identity provider, and the
//! agent trades that sign-in for an access token without asking them
//! again. It exchanges the ID token at the IdP for an Identity Assertion
//! JWT Authorization Grant (ID-JAG, RFC 8693 token exchange), which the MCP
//! server's authorization server redeems for an access token (RFC 7523
//! JWT bearer grant). This file holds what the agent configures and the
//! exchange at the IdP; the session redeems the grant.
//!
//! The ID token and the IdP credentials go to one place only: the token
//! endpoint named by the metadata of the IdP issuer the agent was
//! configured with (never one an MCP server names), over https or loopback
//! http.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::exchange::TokenTypeId;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{ClientSecret, SecurityToken};
use mcp_oauth_core::token::{TokenRequest, TokenResponse};

use crate::discovery::fetch_as_metadata;
use crate::error::{CallbackError, ClientError, IdentityAssertionError};
use crate::fetch::{self, require_secure};

/// A boxed future of a token or the caller's error.
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SecurityToken, CallbackError>> + Send + 'a>>;

/// Where the person's ID token comes from, asked each time the agent needs
/// a new grant (the first request, an expired access token, a 401, a
/// step-up): it should answer with an ID token that is valid now (from the
/// agent's own sign-in at the IdP, refreshed there when it expired). A
/// closure returning a future is one; [`FixedIdToken`] is one that always
/// answers with the same token.
///
/// ```
/// use mcp_oauth_client::{CallbackError, IdTokenSource};
/// use mcp_oauth_client::core::secret::SecurityToken;
///
/// let source = || async {
///     // Read the ID token from the agent's own sign-in.
///     Ok::<_, CallbackError>(SecurityToken::new("eyJ..."))
/// };
/// fn takes(_: impl IdTokenSource) {}
/// takes(source);
/// ```
pub trait IdTokenSource: Send + Sync {
    /// The ID token to exchange now.
    fn id_token(&self) -> TokenFuture<'_>;
}

impl<F, Fut> IdTokenSource for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<SecurityToken, CallbackError>> + Send + 'static,
{
    fn id_token(&self) -> TokenFuture<'_> {
        Box::pin(self())
    }
}

/// An [`IdTokenSource`] that always answers with the same ID token (a
/// short-lived agent, a test). `Debug` never shows it.
#[derive(Clone)]
pub struct FixedIdToken(SecurityToken);

impl FixedIdToken {
    /// The source of `id_token`.
    pub fn new(id_token: impl Into<String>) -> Self {
        Self(SecurityToken::new(id_token.into()))
    }
}

impl std::fmt::Debug for FixedIdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FixedIdToken([redacted])")
    }
}

impl IdTokenSource for FixedIdToken {
    fn id_token(&self) -> TokenFuture<'_> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

/// What an ID-JAG is wanted for; given to an [`IdJagProvider`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdJagRequest {
    /// The issuer of the MCP server's authorization server (the grant's
    /// `audience`).
    pub audience: String,
    /// The MCP server's resource identifier (RFC 9728).
    pub resource: String,
    /// The scopes wanted (possibly none).
    pub scope: ScopeSet,
}

/// Gives the agent an ID-JAG directly, for applications whose IdP
/// integration lives elsewhere (their own token exchange, a broker). A
/// closure taking an [`IdJagRequest`] and returning a future is one.
///
/// ```
/// use mcp_oauth_client::{CallbackError, IdJagRequest, IdentityAssertion, Login};
/// use mcp_oauth_client::core::secret::SecurityToken;
///
/// let login = Login::IdentityAssertion(IdentityAssertion::from_provider(
///     |request: IdJagRequest| async move {
///         // Ask the broker for a grant for request.audience and request.resource.
///         let _ = request;
///         Ok::<_, CallbackError>(SecurityToken::new("eyJ..."))
///     },
/// ));
/// # let _ = login;
/// ```
pub trait IdJagProvider: Send + Sync {
    /// An ID-JAG for `request`.
    fn id_jag(&self, request: IdJagRequest) -> TokenFuture<'_>;
}

impl<F, Fut> IdJagProvider for F
where
    F: Fn(IdJagRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<SecurityToken, CallbackError>> + Send + 'static,
{
    fn id_jag(&self, request: IdJagRequest) -> TokenFuture<'_> {
        Box::pin(self(request))
    }
}

/// How the agent authenticates at the enterprise IdP's token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
enum IdpAuth {
    /// `client_id` in the body, no secret.
    None,
    /// HTTP Basic.
    Basic(ClientSecret),
    /// `client_secret` in the body.
    Post(ClientSecret),
}

/// The agent's client registration at the enterprise IdP (the one it signs
/// people in with). `Debug` never shows the secret.
///
/// ```
/// use mcp_oauth_client::IdpClient;
///
/// let client = IdpClient::secret_basic("agent-at-idp", "s3cret");
/// assert!(!format!("{client:?}").contains("s3cret"));
/// assert_eq!(client.client_id(), "agent-at-idp");
/// ```
#[derive(Clone)]
pub struct IdpClient {
    client_id: String,
    auth: IdpAuth,
}

impl IdpClient {
    /// A public client: its `client_id` in the body, no secret.
    pub fn public(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            auth: IdpAuth::None,
        }
    }

    /// A confidential client authenticating with `client_secret_basic`.
    pub fn secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            auth: IdpAuth::Basic(ClientSecret::new(secret.into())),
        }
    }

    /// A confidential client authenticating with `client_secret_post`.
    pub fn secret_post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            auth: IdpAuth::Post(ClientSecret::new(secret.into())),
        }
    }

    /// The client id at the IdP.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

impl std::fmt::Debug for IdpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match self.auth {
            IdpAuth::None => "none",
            IdpAuth::Basic(_) => "client_secret_basic",
            IdpAuth::Post(_) => "client_secret_post",
        };
        f.debug_struct("IdpClient")
            .field("client_id", &self.client_id)
            .field("auth", &method)
            .finish()
    }
}

/// Where the grant comes from.
#[derive(Clone)]
pub(crate) enum GrantSource {
    /// A token exchange of the person's ID token at the IdP.
    Exchange(Arc<Exchange>),
    /// The application's own provider.
    Provider(Arc<dyn IdJagProvider>),
}

/// The token exchange at the IdP.
pub(crate) struct Exchange {
    /// The IdP's issuer identifier, as configured.
    pub(crate) issuer: String,
    client: IdpClient,
    id_token: Box<dyn IdTokenSource>,
    /// The IdP's token endpoint, once discovered.
    token_endpoint: tokio::sync::OnceCell<url::Url>,
}

/// The enterprise-managed login ([`Login::IdentityAssertion`](crate::Login::IdentityAssertion)):
/// an ID-JAG, from a token exchange of the person's ID token at the
/// enterprise IdP or from the application's own [`IdJagProvider`], redeemed
/// at the MCP server's authorization server with the JWT bearer grant by
/// the client pre-registered there
/// ([`client_credentials`](crate::OAuthClientBuilder::client_credentials)
/// or [`private_key_jwt`](crate::OAuthClientBuilder::private_key_jwt), at
/// the [`authorization_server`](crate::OAuthClientBuilder::authorization_server)).
/// No refresh token is expected: a new grant is made whenever the access
/// token expires, a 401 comes, or a 403 asks for more scopes.
///
/// ```
/// use mcp_oauth_client::{FixedIdToken, IdentityAssertion, IdpClient};
///
/// let login = IdentityAssertion::new(
///     "https://idp.example.com",
///     IdpClient::secret_basic("agent-at-idp", "idp-secret"),
///     FixedIdToken::new("eyJ..."),
/// );
/// assert_eq!(login.idp_issuer(), Some("https://idp.example.com"));
/// assert!(!format!("{login:?}").contains("idp-secret"));
/// ```
#[derive(Clone)]
pub struct IdentityAssertion {
    pub(crate) source: GrantSource,
}

impl IdentityAssertion {
    /// Exchanges the person's ID token (from `id_token`) at the IdP whose
    /// issuer identifier is `idp_issuer` (its token endpoint is found in
    /// its metadata, RFC 8414 then OpenID Connect Discovery), as `client`.
    pub fn new(
        idp_issuer: impl Into<String>,
        client: IdpClient,
        id_token: impl IdTokenSource + 'static,
    ) -> Self {
        Self {
            source: GrantSource::Exchange(Arc::new(Exchange {
                issuer: idp_issuer.into(),
                client,
                id_token: Box::new(id_token),
                token_endpoint: tokio::sync::OnceCell::new(),
            })),
        }
    }

    /// Takes each ID-JAG from `provider` instead of exchanging an ID token.
    pub fn from_provider(provider: impl IdJagProvider + 'static) -> Self {
        Self {
            source: GrantSource::Provider(Arc::new(provider)),
        }
    }

    /// The configured IdP issuer (none with a provider).
    pub fn idp_issuer(&self) -> Option<&str> {
        match &self.source {
            GrantSource::Exchange(e) => Some(&e.issuer),
            GrantSource::Provider(_) => None,
        }
    }

    /// An ID-JAG for `request`.
    pub(crate) async fn grant(
        &self,
        http: &reqwest::Client,
        request: IdJagRequest,
    ) -> Result<SecurityToken, ClientError> {
        match &self.source {
            GrantSource::Provider(p) => {
                p.id_jag(request)
                    .await
                    .map_err(|source| ClientError::IdentityAssertion {
                        idp: "the application's ID-JAG provider".into(),
                        source: IdentityAssertionError::Provider(source),
                    })
            }
            GrantSource::Exchange(e) => e.exchange(http, &request).await,
        }
    }
}

impl std::fmt::Debug for IdentityAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            GrantSource::Exchange(e) => f
                .debug_struct("IdentityAssertion")
                .field("idp", &e.issuer)
                .field("client", &e.client)
                .finish_non_exhaustive(),
            GrantSource::Provider(_) => f.write_str("IdentityAssertion(provider)"),
        }
    }
}

impl Exchange {
    fn error(&self, source: IdentityAssertionError) -> ClientError {
        ClientError::IdentityAssertion {
            idp: self.issuer.clone(),
            source,
        }
    }

    /// The IdP's token endpoint, from its metadata (found once).
    async fn token_endpoint(&self, http: &reqwest::Client) -> Result<url::Url, ClientError> {
        self.token_endpoint
            .get_or_try_init(|| async {
                require_secure("IdP issuer", &self.issuer)?;
                let metadata = fetch_as_metadata(http, &self.issuer)
                    .await?
                    .map_err(|found| self.error(IdentityAssertionError::NoMetadata { found }))?;
                let endpoint = metadata
                    .token_endpoint
                    .ok_or_else(|| self.error(IdentityAssertionError::NoTokenEndpoint))?;
                require_secure("IdP token endpoint", &endpoint)
            })
            .await
            .cloned()
    }

    /// The token exchange (RFC 8693 §2.1, the extension §4): the ID token
    /// for an ID-JAG for `request`.
    async fn exchange(
        &self,
        http: &reqwest::Client,
        request: &IdJagRequest,
    ) -> Result<SecurityToken, ClientError> {
        let endpoint = self.token_endpoint(http).await?;
        let id_token = self
            .id_token
            .id_token()
            .await
            .map_err(|e| self.error(IdentityAssertionError::IdTokenSource(e)))?;
        let mut body = TokenRequest::token_exchange(id_token, TokenTypeId::IdToken)
            .requested_token_type(TokenTypeId::IdJag)
            .audience(&request.audience)
            .resource(&request.resource)
            .scope(&request.scope);
        let mut post = http.post(endpoint.clone());
        match &self.client.auth {
            IdpAuth::None => body.client.client_id = Some(self.client.client_id.clone()),
            IdpAuth::Basic(secret) => {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                post = post.basic_auth(enc(&self.client.client_id), Some(enc(secret.secret())));
            }
            IdpAuth::Post(secret) => {
                body.client.client_id = Some(self.client.client_id.clone());
                body.client.client_secret = Some(secret.clone());
            }
        }
        let reply = fetch::exchange(post.form(&body), endpoint.as_str()).await?;
        if !reply.status.is_success() {
            let refusal = reply.json::<ErrorResponse>().unwrap_or_else(|_| {
                ErrorResponse::new(mcp_oauth_core::ErrorCode::Other(format!(
                    "http_{}",
                    reply.status.as_u16()
                )))
            });
            return Err(self.error(IdentityAssertionError::Refused(refusal)));
        }
        let answer: TokenResponse = reply
            .json()
            .map_err(|e| self.error(IdentityAssertionError::Unreadable(e)))?;
        check_answer(&answer).map_err(|e| self.error(e))?;
        Ok(SecurityToken::new(answer.access_token.secret()))
    }
}

/// The extension §4.2: the answer must say it issued an ID-JAG, as a token
/// that is not an access token (`N_A`, in any case).
fn check_answer(answer: &TokenResponse) -> Result<(), IdentityAssertionError> {
    if answer.issued_token_type.as_ref() != Some(&TokenTypeId::IdJag) {
        return Err(IdentityAssertionError::NotAnIdJag {
            issued_token_type: answer.issued_token_type.as_ref().map(|t| t.to_string()),
        });
    }
    if !answer.token_type.as_str().eq_ignore_ascii_case("N_A") {
        return Err(IdentityAssertionError::WrongTokenType(
            answer.token_type.to_string(),
        ));
    }
    if answer.access_token.secret().is_empty() {
        return Err(IdentityAssertionError::NotAnIdJag {
            issued_token_type: Some("(empty token)".into()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
