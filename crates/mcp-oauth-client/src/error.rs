//! What can go wrong while logging an agent in, by step.

use std::time::Duration;

use mcp_oauth_core::authorization::AuthorizationResponseError;
use mcp_oauth_core::discovery::DiscoveryError;
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::issuer::IssuerError;
use mcp_oauth_core::resource::ResourceError;
use mcp_oauth_core::secret::RandomnessError;

/// Why an [`AuthorizeCallback`](crate::AuthorizeCallback) gave up: any
/// error (a `String` converts with `.into()` or `?`).
///
/// ```
/// use mcp_oauth_client::CallbackError;
///
/// let e: CallbackError = "the user closed the window".into();
/// assert_eq!(e.to_string(), "the user closed the window");
/// ```
pub type CallbackError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of the client flow; the variant says which step failed, and
/// [`source`](std::error::Error::source) leads to the cause where there is
/// one (an HTTP, URL, JSON or I/O error).
///
/// ```
/// use mcp_oauth_client::{ClientError, OAuthClient, UrlError};
///
/// let err = OAuthClient::builder("my-agent")
///     .authorization_server("https://auth.example.com?tenant=1")
///     .client_id("my-agent")
///     .build()
///     .unwrap_err();
/// match &err {
///     ClientError::InvalidUrl { what, source: UrlError::Issuer(_), .. } => {
///         assert_eq!(*what, "trusted authorization server issuer");
///     }
///     other => panic!("unexpected: {other}"),
/// }
/// assert!(std::error::Error::source(&err).is_some());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Finding the authorization server failed (protected resource
    /// metadata, authorization server metadata).
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// The MCP server sent the agent to an authorization server it was not
    /// configured to trust (see
    /// [`OAuthClientBuilder::authorization_server`](crate::OAuthClientBuilder::authorization_server)).
    /// Nothing was sent to that server.
    #[error(
        "the MCP server names the authorization server {issuer}, which this agent does not trust \
         (it trusts {trusted} only); nothing was sent to it"
    )]
    UntrustedIssuer {
        /// The authorization server the MCP server named (several are
        /// separated by `, `).
        issuer: String,
        /// The one this agent trusts.
        trusted: String,
    },
    /// The trusted authorization server asked for the password on another
    /// origin, or over plain http off loopback; the password was not sent.
    #[error(
        "the authorization server {issuer} asks for the password at {endpoint}, which is not on \
         its own origin over https (or loopback http); the password was not sent"
    )]
    ForeignLoginEndpoint {
        /// The login endpoint it named.
        endpoint: String,
        /// The trusted issuer.
        issuer: String,
    },
    /// A URL is neither `https` nor `http` on a loopback host; nothing was
    /// sent to it.
    #[error("refusing the {what} {url}: it must use https (plain http only on a loopback host)")]
    InsecureUrl {
        /// Which URL (MCP server, resource metadata, issuer, an endpoint).
        what: &'static str,
        /// The URL.
        url: String,
    },
    /// A URL is not usable: it does not parse, or is not a valid resource
    /// or issuer identifier; nothing was sent to it.
    #[error("invalid {what} {url}: {source}")]
    InvalidUrl {
        /// Which URL (MCP server, issuer, an endpoint, the redirect URI).
        what: &'static str,
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        #[source]
        source: UrlError,
    },
    /// A response could not be read as the document it should be.
    #[error("unreadable {what} from {url}: {source}")]
    UnreadableResponse {
        /// Which document (registration response, headless login offer).
        what: &'static str,
        /// Where it came from.
        url: String,
        /// Why it could not be read.
        #[source]
        source: serde_json::Error,
    },
    /// Reading a response failed: too large, too slow, or the exchange
    /// broke.
    #[error("reading {url} failed: {source}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        #[source]
        source: FetchError,
    },
    /// The authorization server does not support PKCE S256.
    #[error("the authorization server {0} does not support PKCE S256; refusing to use it")]
    NoS256(String),
    /// Dynamic registration failed.
    #[error("client registration failed: {0}")]
    Registration(String),
    /// The authorization step failed (login, consent, redirect checks).
    #[error("authorization failed: {0}")]
    Authorization(String),
    /// The caller's [`AuthorizeCallback`](crate::AuthorizeCallback) gave up.
    #[error("the authorization callback failed")]
    Callback(#[source] CallbackError),
    /// The authorization response is not one this login may use: it is
    /// malformed, or its `state` or `iss` is not the expected one (a
    /// forgery or a mix-up); its code was not redeemed.
    #[error("the authorization response was refused: {0}")]
    AuthorizationResponse(#[source] AuthorizationResponseError),
    /// A local step of the login failed: listening on loopback, or opening
    /// the browser.
    #[error("{what}: {source}")]
    Local {
        /// The step.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The system's random number generator failed (PKCE verifier,
    /// `state`, assertion id).
    #[error("no randomness for the login: {0}")]
    Randomness(#[from] RandomnessError),
    /// No PKCE verifier could be made.
    #[error("cannot make a PKCE verifier: {0}")]
    Pkce(#[from] mcp_oauth_core::pkce::PkceError),
    /// The `private_key_jwt` key could not be read, or could not sign.
    #[error("the private_key_jwt key cannot be used: {0}")]
    PrivateKey(#[source] jsonwebtoken::errors::Error),
    /// The authorization server refused the authorization.
    #[error("authorization refused by the server: {0}")]
    Denied(ErrorResponse),
    /// The token request failed.
    #[error("token request failed: {0}")]
    Token(ErrorResponse),
    /// Refreshing failed (the caller falls back to a new login).
    #[error("refresh failed: {0}")]
    Refresh(ErrorResponse),
    /// The authorization server answered `invalid_client` for the client
    /// id this agent was configured with
    /// ([`OAuthClientBuilder::client_id`](crate::OAuthClientBuilder::client_id)):
    /// its operator removed the client or changed its credentials. A
    /// configured identity is never replaced by a registration of the
    /// agent's own; the configuration has to change. (A dynamic
    /// registration the server no longer knows is dropped and made again,
    /// once, without this error.)
    #[error("the authorization server refuses the configured client {client_id}: {error}")]
    ClientRefused {
        /// The configured client id.
        client_id: String,
        /// The server's answer.
        #[source]
        error: ErrorResponse,
    },
    /// Enterprise-managed authorization
    /// ([`Login::IdentityAssertion`](crate::Login::IdentityAssertion))
    /// could not get an ID-JAG: the IdP (or the application's provider)
    /// failed or refused.
    #[error("no identity assertion grant from {idp}: {source}")]
    IdentityAssertion {
        /// The IdP issuer, as configured (or which provider).
        idp: String,
        /// What went wrong.
        #[source]
        source: IdentityAssertionError,
    },
    /// The token store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// An HTTP exchange failed.
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
    /// The login did not complete in time.
    #[error("login timed out")]
    Timeout,
    /// Step-up was attempted too many times for one request.
    #[error("the server keeps asking for more scopes ({0}); giving up")]
    TooManyStepUps(String),
    /// A configuration that carries a secret (a password, a client secret)
    /// or a pre-registered client identity names no trusted authorization
    /// server.
    #[error(
        "{0} belongs to one authorization server: name it with \
         OAuthClientBuilder::authorization_server(issuer)"
    )]
    TrustedIssuerRequired(&'static str),
    /// A configuration mistake.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Why a response could not be read; see [`ClientError::Fetch`].
///
/// ```
/// use mcp_oauth_client::{ClientError, FetchError};
///
/// fn too_large(err: &ClientError) -> bool {
///     matches!(err, ClientError::Fetch { source: FetchError::TooLarge { .. }, .. })
/// }
/// let err = ClientError::Fetch {
///     url: "https://mcp.example.com/.well-known/oauth-protected-resource".into(),
///     source: FetchError::TooLarge { limit: 262_144 },
/// };
/// assert!(too_large(&err));
/// assert!(err.to_string().contains("262144"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The body is larger than the client accepts for this kind of
    /// response; it stopped reading and closed the connection.
    #[error("the response is larger than {limit} bytes; stopped reading")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The whole exchange (connect, headers, body) took too long.
    #[error("no complete response within {0:?}")]
    Timeout(Duration),
    /// The HTTP exchange failed.
    #[error("{0}")]
    Http(#[source] reqwest::Error),
}

/// Why no ID-JAG could be had; see [`ClientError::IdentityAssertion`].
/// None of these carries the ID token or a secret.
///
/// ```
/// use mcp_oauth_client::{ClientError, IdentityAssertionError};
///
/// fn idp_refused(err: &ClientError) -> bool {
///     matches!(err, ClientError::IdentityAssertion { source: IdentityAssertionError::Refused(_), .. })
/// }
/// # let _ = idp_refused;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityAssertionError {
    /// The [`IdTokenSource`](crate::IdTokenSource) failed.
    #[error("the ID token source failed")]
    IdTokenSource(#[source] CallbackError),
    /// The [`IdJagProvider`](crate::IdJagProvider) failed.
    #[error("the ID-JAG provider failed")]
    Provider(#[source] CallbackError),
    /// No metadata of the configured IdP issuer was found (RFC 8414, OpenID
    /// Connect Discovery), or only documents naming another issuer.
    #[error("no metadata of the IdP found{}", .found.as_ref().map(|f| format!(" (a document names the issuer {f}; refused)")).unwrap_or_default())]
    NoMetadata {
        /// The issuer a document named instead, if one did.
        found: Option<String>,
    },
    /// The IdP's metadata names no token endpoint.
    #[error("the IdP's metadata names no token endpoint")]
    NoTokenEndpoint,
    /// The IdP refused the token exchange (its RFC 6749 §5.2 answer).
    #[error("the IdP refused the token exchange: {0}")]
    Refused(#[source] ErrorResponse),
    /// The IdP's answer could not be read as a token response.
    #[error("unreadable token exchange response")]
    Unreadable(#[source] serde_json::Error),
    /// The IdP issued something else than an ID-JAG (`issued_token_type`).
    #[error("the IdP issued {} instead of an ID-JAG", .issued_token_type.as_deref().unwrap_or("an untyped token"))]
    NotAnIdJag {
        /// The `issued_token_type` it named.
        issued_token_type: Option<String>,
    },
    /// The answer's `token_type` is not `N_A`.
    #[error("the IdP answered token_type {0}, not N_A")]
    WrongTokenType(String),
}

/// What is wrong with a URL; see [`ClientError::InvalidUrl`].
///
/// ```
/// use mcp_oauth_client::{ClientError, OAuthClient, UrlError};
///
/// let err = OAuthClient::builder("my-agent")
///     .metadata_document_url("not a url")
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ClientError::InvalidUrl { source: UrlError::Syntax(_), .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// It is not a URL.
    #[error(transparent)]
    Syntax(#[from] url::ParseError),
    /// It is not a valid resource identifier (RFC 8707).
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// It is not a valid issuer identifier (RFC 8414).
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// No metadata URL can be derived from it (RFC 9728, RFC 8414).
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
}

impl ClientError {
    /// The `ClientError` behind `error`, if there is one in its chain of
    /// sources: how a program finds out why rmcp's transport failed (a
    /// refused login is [`ClientError::Denied`], `access_denied` for a
    /// wrong password).
    ///
    /// ```
    /// use mcp_oauth_client::ClientError;
    ///
    /// let inner = ClientError::Timeout;
    /// let wrapped = std::io::Error::other(inner); // as rmcp's transport wraps it
    /// assert!(matches!(ClientError::find(&wrapped), Some(ClientError::Timeout)));
    /// ```
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a ClientError> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<ClientError>() {
                return Some(found);
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && let Some(found) = io.get_ref().and_then(|i| i.downcast_ref::<ClientError>())
            {
                return Some(found);
            }
            next = e.source();
            // rmcp's initialization error keeps the transport's error but
            // does not name it as its source.
            #[cfg(feature = "rmcp")]
            if let Some(rmcp::service::ClientInitializeError::TransportError { error, .. }) =
                e.downcast_ref::<rmcp::service::ClientInitializeError>()
            {
                next = Some(error);
            }
        }
        None
    }

    /// An [`InvalidUrl`](Self::InvalidUrl) error about `url`.
    pub(crate) fn invalid_url(
        what: &'static str,
        url: impl Into<String>,
        source: impl Into<UrlError>,
    ) -> Self {
        Self::InvalidUrl {
            what,
            url: url.into(),
            source: source.into(),
        }
    }
}
