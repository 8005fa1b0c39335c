//! How the user (or the agent on the user's behalf) gets through the
//! authorization endpoint: a browser and a loopback listener
//! ([`browser`]), a headless password login at the trusted authorization
//! server ([`credentials`]), or a callback the caller provides; or, without
//! the authorization endpoint, the device flow ([`device`]) or an enterprise
//! IdP's identity assertion grant ([`identity_assertion`]).

mod browser;
mod credentials;
pub(crate) mod device;
pub(crate) mod identity_assertion;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::secret::Password;
use tokio::net::TcpListener;

use crate::error::{CallbackError, ClientError};

/// Hands the authorization URL to the caller and resolves to the URL the
/// browser was redirected to (with `code`, `state`, `iss`); an `Err` ends the
/// login with [`ClientError::Callback`], which keeps it as its source.
///
/// ```
/// use std::sync::Arc;
/// use mcp_oauth_client::{AuthorizeCallback, CallbackError, Login};
///
/// let callback: AuthorizeCallback = Arc::new(|authorize_url: url::Url| {
///     Box::pin(async move {
///         // Show `authorize_url` to the user, then wait for the redirect.
///         let _ = authorize_url;
///         Err::<url::Url, CallbackError>("the user closed the window".into())
///     })
/// });
/// let login = Login::Callback(callback);
/// # let _ = login;
/// ```
pub type AuthorizeCallback = Arc<
    dyn Fn(url::Url) -> Pin<Box<dyn Future<Output = Result<url::Url, CallbackError>> + Send>>
        + Send
        + Sync,
>;

/// Opens a URL in a browser.
///
/// ```
/// use std::sync::Arc;
/// use mcp_oauth_client::{BrowserOpener, Login};
///
/// let opener: BrowserOpener = Arc::new(|url: &str| {
///     println!("Open {url} to sign in");
///     Ok(())
/// });
/// let login = Login::BrowserWith(opener);
/// # let _ = login;
/// ```
pub type BrowserOpener = Arc<dyn Fn(&str) -> std::io::Result<()> + Send + Sync>;

/// A login strategy; see [`OAuthClientBuilder::login`](crate::OAuthClientBuilder::login).
///
/// ```
/// use mcp_oauth_client::Login;
///
/// let interactive = Login::Browser;
/// let headless = Login::password("alice", "correct horse battery staple");
/// assert_eq!(format!("{interactive:?}"), "Login::Browser");
/// assert!(!format!("{headless:?}").contains("horse"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Login {
    /// Open the system browser; receive the redirect on a loopback listener
    /// on an ephemeral port (RFC 8252 §7.3).
    Browser,
    /// As [`Login::Browser`], with a custom way to open the URL (a
    /// specific browser, a test driver).
    BrowserWith(BrowserOpener),
    /// Headless: a username and password, made with [`Login::password`],
    /// posted to the login endpoint of the trusted authorization server
    /// (mcp-oauth-server's headless login, which its operator allows for
    /// chosen clients only). A server that approves without interaction
    /// (redirecting `/authorize` straight back) is never sent the password.
    Password(Credentials),
    /// Hand the URL to the caller and await the redirect (GUIs, tests).
    Callback(AuthorizeCallback),
    /// Machine to machine: the `client_credentials` grant with the
    /// pre-registered client's secret; no user.
    ClientCredentials,
    /// No browser on this machine: the device authorization grant (RFC
    /// 8628). The prompt shows the person a code and a page to type it on
    /// from any other device; the agent polls until they allow or deny.
    /// Made with [`Login::device`] (prints to the terminal) or with a
    /// prompt of your own.
    Device(device::DevicePrompt),
    /// Enterprise-managed authorization: the person already signed in to
    /// the agent through the enterprise IdP; an Identity Assertion JWT
    /// Authorization Grant (from a token exchange of their ID token at that
    /// IdP, or from the application) is redeemed at the MCP server's
    /// authorization server with the JWT bearer grant, by the client
    /// pre-registered there. No browser, no password; see
    /// [`IdentityAssertion`](crate::IdentityAssertion).
    IdentityAssertion(identity_assertion::IdentityAssertion),
}

impl Login {
    /// The device login (RFC 8628) with the default prompt: the code and
    /// the page to type it on, printed to standard error. The safe
    /// headless login: no password passes through the agent.
    ///
    /// ```
    /// use mcp_oauth_client::{Login, OAuthClient};
    ///
    /// let client = OAuthClient::builder("my-agent").login(Login::device()).build()?;
    /// # let _ = client;
    /// # Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn device() -> Self {
        Self::Device(Arc::new(device::print_to_stderr))
    }

    /// A headless password login. The password is sent only to the login
    /// endpoint of the authorization server named with
    /// [`OAuthClientBuilder::authorization_server`](crate::OAuthClientBuilder::authorization_server),
    /// on its own origin; [`build`](crate::OAuthClientBuilder::build)
    /// refuses the configuration without that issuer.
    ///
    /// ```
    /// use mcp_oauth_client::{Login, OAuthClient};
    ///
    /// let client = OAuthClient::builder("my-agent")
    ///     .authorization_server("https://auth.example.com")
    ///     .client_id("my-agent")
    ///     .login(Login::password("alice", "correct horse battery staple"))
    ///     .build()?;
    /// assert!(!format!("{client:?}").contains("horse"));
    /// # Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn password(username: impl Into<String>, password: impl Into<Password>) -> Self {
        Self::Password(Credentials {
            username: username.into(),
            password: password.into(),
        })
    }
}

/// A username and password for [`Login::Password`]; `Debug` never shows the
/// password.
///
/// ```
/// use mcp_oauth_client::Login;
///
/// let Login::Password(credentials) = Login::password("alice", "hunter2") else {
///     unreachable!()
/// };
/// assert_eq!(credentials.username(), "alice");
/// assert!(!format!("{credentials:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: Password,
}

impl Credentials {
    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Browser | Self::BrowserWith(_) => f.write_str("Login::Browser"),
            Self::Password(c) => write!(f, "Login::Password({c:?})"),
            Self::Callback(_) => f.write_str("Login::Callback"),
            Self::ClientCredentials => f.write_str("Login::ClientCredentials"),
            Self::Device(_) => f.write_str("Login::Device"),
            Self::IdentityAssertion(a) => write!(f, "Login::{a:?}"),
        }
    }
}

/// The redirect URI registered for loopback logins (any port is used at
/// run time, RFC 8252 §7.3).
pub(crate) const LOOPBACK_REDIRECT: &str = "http://127.0.0.1/callback";

/// A redirect target prepared before the authorization URL is built.
pub(crate) enum Redirect {
    /// Nothing listens; the redirect is read from a `Location` header or
    /// returned by a callback.
    Virtual(String),
    /// A loopback listener.
    Listener(TcpListener, String),
}

impl Redirect {
    /// The redirect of `login`: on `chosen` when the agent chose one (a
    /// browser login listens on its address), else on an ephemeral
    /// loopback port.
    pub(crate) async fn prepare(login: &Login, chosen: Option<&str>) -> Result<Self, ClientError> {
        match login {
            Login::Browser | Login::BrowserWith(_) => {
                let local = |source| ClientError::Local {
                    what: "cannot listen on loopback",
                    source,
                };
                if let Some(uri) = chosen {
                    // Checked at build: http, a loopback address literal,
                    // a port.
                    let url = url::Url::parse(uri)
                        .map_err(|e| ClientError::invalid_url("redirect URI", uri, e))?;
                    let addrs = url.socket_addrs(|| None).map_err(local)?;
                    let listener = TcpListener::bind(&addrs[..]).await.map_err(local)?;
                    return Ok(Self::Listener(listener, uri.to_owned()));
                }
                let listener = TcpListener::bind("127.0.0.1:0").await.map_err(local)?;
                let port = listener.local_addr().map_err(local)?.port();
                Ok(Self::Listener(
                    listener,
                    format!("http://127.0.0.1:{port}/callback"),
                ))
            }
            _ => Ok(Self::Virtual(
                chosen.unwrap_or(LOOPBACK_REDIRECT).to_owned(),
            )),
        }
    }

    pub(crate) fn uri(&self) -> &str {
        match self {
            Self::Virtual(u) | Self::Listener(_, u) => u,
        }
    }
}

/// One authorization attempt, as the login strategies see it.
pub(crate) struct Attempt<'a> {
    /// The full authorization request URL.
    pub(crate) authorize_url: url::Url,
    /// The `state` it carries.
    pub(crate) state: &'a str,
    /// The issuer it goes to (the trusted one when a password is involved).
    pub(crate) issuer: &'a str,
}

/// Runs the login; returns the final redirect URL.
pub(crate) async fn run(
    login: &Login,
    http: &reqwest::Client,
    attempt: Attempt<'_>,
    redirect: Redirect,
    timeout: Duration,
) -> Result<url::Url, ClientError> {
    let fut = async {
        match (login, redirect) {
            (Login::Password(credentials), Redirect::Virtual(uri)) => {
                credentials::headless(http, &attempt, &uri, credentials).await
            }
            (Login::Callback(cb), Redirect::Virtual(_)) => cb(attempt.authorize_url)
                .await
                .map_err(ClientError::Callback),
            (Login::Browser, Redirect::Listener(l, uri)) => {
                let opener: BrowserOpener = Arc::new(browser::open_system_browser);
                browser::browser(l, &uri, &attempt, &opener).await
            }
            (Login::BrowserWith(opener), Redirect::Listener(l, uri)) => {
                browser::browser(l, &uri, &attempt, opener).await
            }
            _ => Err(ClientError::Config(
                "this login strategy has no authorization step".into(),
            )),
        }
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ClientError::Timeout)?
}
