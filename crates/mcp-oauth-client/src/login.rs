//! How the user (or the agent on the user's behalf) gets through the
//! authorization endpoint.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::error::ClientError;

/// Hands the authorization URL to the caller and resolves to the URL the
/// browser was redirected to (with `code`, `state`, `iss`).
pub type AuthorizeCallback = Arc<
    dyn Fn(url::Url) -> Pin<Box<dyn Future<Output = Result<url::Url, String>> + Send>>
        + Send
        + Sync,
>;

/// Opens a URL in a browser.
pub type BrowserOpener = Arc<dyn Fn(&str) -> std::io::Result<()> + Send + Sync>;

/// A login strategy.
#[derive(Clone)]
#[non_exhaustive]
pub enum Login {
    /// Open the system browser; receive the redirect on a loopback listener
    /// on an ephemeral port (RFC 8252 §7.3).
    Browser,
    /// As [`Login::Browser`], with a custom way to open the URL (a
    /// specific browser, a test driver).
    BrowserWith(BrowserOpener),
    /// Headless: log in with these credentials (for example
    /// `{"username": "...", "password": "..."}`), posted to the
    /// authorization server's login endpoint. Servers that approve without
    /// interaction (redirecting `/authorize` straight back) need none.
    Credentials(serde_json::Value),
    /// Hand the URL to the caller and await the redirect (GUIs, tests).
    Callback(AuthorizeCallback),
    /// Machine to machine: the `client_credentials` grant with the
    /// pre-registered client's secret; no user.
    ClientCredentials,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Browser | Self::BrowserWith(_) => "Login::Browser",
            Self::Credentials(_) => "Login::Credentials([redacted])",
            Self::Callback(_) => "Login::Callback",
            Self::ClientCredentials => "Login::ClientCredentials",
        })
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
    pub(crate) async fn prepare(login: &Login) -> Result<Self, ClientError> {
        match login {
            Login::Browser | Login::BrowserWith(_) => {
                let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| {
                    ClientError::Authorization(format!("cannot listen on loopback: {e}"))
                })?;
                let port = listener
                    .local_addr()
                    .map_err(|e| ClientError::Authorization(e.to_string()))?
                    .port();
                Ok(Self::Listener(
                    listener,
                    format!("http://127.0.0.1:{port}/callback"),
                ))
            }
            _ => Ok(Self::Virtual(LOOPBACK_REDIRECT.to_owned())),
        }
    }

    pub(crate) fn uri(&self) -> &str {
        match self {
            Self::Virtual(u) | Self::Listener(_, u) => u,
        }
    }
}

/// Runs the login; returns the final redirect URL.
pub(crate) async fn run(
    login: &Login,
    http: &reqwest::Client,
    authorize_url: url::Url,
    redirect: Redirect,
    timeout: Duration,
) -> Result<url::Url, ClientError> {
    let fut = async {
        match (login, redirect) {
            (Login::Credentials(body), Redirect::Virtual(uri)) => {
                headless(http, authorize_url, &uri, body).await
            }
            (Login::Callback(cb), Redirect::Virtual(_)) => {
                cb(authorize_url).await.map_err(ClientError::Authorization)
            }
            (Login::Browser, Redirect::Listener(l, uri)) => {
                browser(
                    l,
                    &uri,
                    authorize_url,
                    &(Arc::new(open_system_browser) as BrowserOpener),
                )
                .await
            }
            (Login::BrowserWith(opener), Redirect::Listener(l, uri)) => {
                browser(l, &uri, authorize_url, opener).await
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

fn location_if_redirect(r: &reqwest::Response, redirect_uri: &str) -> Option<url::Url> {
    if !r.status().is_redirection() {
        return None;
    }
    let loc = r.headers().get(reqwest::header::LOCATION)?.to_str().ok()?;
    let url = url::Url::parse(loc).ok()?;
    let base = url::Url::parse(redirect_uri).ok()?;
    (url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.path() == base.path())
    .then_some(url)
}

/// The headless path: follow `/authorize` as a browser would but without
/// following redirects; post credentials where the server asks for them.
async fn headless(
    http: &reqwest::Client,
    authorize_url: url::Url,
    redirect_uri: &str,
    credentials: &serde_json::Value,
) -> Result<url::Url, ClientError> {
    let r = http
        .get(authorize_url)
        .header("accept", "application/json")
        .send()
        .await?;
    if let Some(url) = location_if_redirect(&r, redirect_uri) {
        return Ok(url); // the server approved without a login
    }
    let status = r.status();
    let is_json = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_success() || !is_json {
        return Err(ClientError::Authorization(format!(
            "the authorization endpoint answered HTTP {status} and offers no headless login"
        )));
    }
    let pending: serde_json::Value = r.json().await?;
    let (Some(request), Some(login)) = (
        pending.get("request").and_then(|v| v.as_str()),
        pending.get("login_endpoint").and_then(|v| v.as_str()),
    ) else {
        return Err(ClientError::Authorization(
            "the authorization endpoint offers no headless login".into(),
        ));
    };
    let mut body = match credentials {
        serde_json::Value::Object(m) => m.clone(),
        _ => {
            return Err(ClientError::Config(
                "credentials must be a JSON object".into(),
            ));
        }
    };
    body.insert(
        "request".into(),
        serde_json::Value::String(request.to_owned()),
    );
    let r = http.post(login).json(&body).send().await?;
    if let Some(url) = location_if_redirect(&r, redirect_uri) {
        return Ok(url);
    }
    let status = r.status();
    let detail = r.text().await.unwrap_or_default();
    Err(ClientError::Authorization(format!(
        "login refused (HTTP {status}): {}",
        detail.chars().take(300).collect::<String>()
    )))
}

fn open_system_browser(url: &str) -> std::io::Result<()> {
    let mut cmd = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    cmd.arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

const DONE_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed in</title></head><body style=\"font-family:system-ui,sans-serif;text-align:center;margin-top:4rem\"><h1>You are signed in</h1><p>You can close this tab and return to the application.</p></body></html>";

/// Opens the browser and waits for the redirect to `/callback`.
async fn browser(
    listener: TcpListener,
    redirect_uri: &str,
    authorize_url: url::Url,
    opener: &BrowserOpener,
) -> Result<url::Url, ClientError> {
    opener(authorize_url.as_str())
        .map_err(|e| ClientError::Authorization(format!("cannot open a browser: {e}")))?;
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| ClientError::Authorization(e.to_string()))?;
        let mut buf = vec![0u8; 8192];
        let n = stream.read(&mut buf).await.unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or_default()
            .to_owned();
        if target.starts_with("/callback") {
            let body = DONE_PAGE;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let base = redirect_uri.trim_end_matches("/callback");
            return url::Url::parse(&format!("{base}{target}"))
                .map_err(|e| ClientError::Authorization(e.to_string()));
        }
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
    }
}
