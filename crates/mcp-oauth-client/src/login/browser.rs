//! The browser login's loopback listener (RFC 8252 §7.3). Any local
//! process, or a web page that finds the port, can connect to it, so it
//! ends the login only on a `GET` of the redirect URI's path (`/callback`
//! unless the agent chose another) with this attempt's `state`;
//! everything else gets a 400 or 404 and the listener keeps waiting. Each
//! connection is served on its own task with a read deadline, so a silent
//! connection cannot hold up the real redirect.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::html::escape;
use mcp_oauth_core::secret::constant_time_eq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{Attempt, BrowserOpener};
use crate::error::ClientError;

/// How long a connection may take to send its request head (and to take
/// the answer).
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a request head that is read.
const HEAD_LIMIT: usize = 8 * 1024;
/// Connections served at once; more are closed at once until some finish.
const MAX_CONNECTIONS: usize = 64;

pub(super) fn open_system_browser(url: &str) -> std::io::Result<()> {
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

/// Opens the browser and waits for the redirect that belongs to this
/// attempt.
pub(super) async fn browser(
    listener: TcpListener,
    redirect_uri: &str,
    attempt: &Attempt<'_>,
    opener: &BrowserOpener,
) -> Result<url::Url, ClientError> {
    let url = url::Url::parse(redirect_uri)
        .map_err(|e| ClientError::invalid_url("redirect URI", redirect_uri, e))?;
    // The origin the browser comes back to, and the one path it must ask.
    let base: Arc<str> = url.origin().ascii_serialization().into();
    let path: Arc<str> = url.path().into();
    let state: Arc<str> = attempt.state.into();
    opener(attempt.authorize_url.as_str()).map_err(|source| ClientError::Local {
        what: "cannot open a browser",
        source,
    })?;
    let (tx, mut rx) = mpsc::channel::<url::Url>(1);
    // Dropped on return, which ends every connection still being served.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        tokio::select! {
            Some(back) = rx.recv() => return Ok(back),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < MAX_CONNECTIONS => {
                    let expected = Expected { base: base.clone(), path: path.clone(), state: state.clone() };
                    connections.spawn(serve(stream, expected, tx.clone()));
                }
                Ok(_) => {} // too many at once: this one is closed
                Err(e) => {
                    tracing::debug!(error = %e, "loopback accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// What the redirect of this attempt looks like.
struct Expected {
    /// The redirect URI's origin.
    base: Arc<str>,
    /// Its path.
    path: Arc<str>,
    /// The attempt's `state`.
    state: Arc<str>,
}

/// Serves one connection: reads its request head (within the deadline),
/// answers, and hands the redirect over if it is ours.
async fn serve(mut stream: TcpStream, expected: Expected, tx: mpsc::Sender<url::Url>) {
    let Ok(Some(head)) = tokio::time::timeout(IO_TIMEOUT, read_head(&mut stream)).await else {
        return; // silent, too slow or too large: dropped
    };
    let verdict = judge(&head, &expected.path, &expected.state);
    let response = verdict.response();
    // Answer first: once the redirect is handed over, the login returns and
    // this task is ended.
    let _ = tokio::time::timeout(IO_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    if let Verdict::Ours { target, .. } = verdict {
        match url::Url::parse(&format!("{}{target}", expected.base)) {
            Ok(back) => {
                let _ = tx.try_send(back);
            }
            Err(e) => tracing::debug!(error = %e, "unusable redirect"),
        }
    }
}

/// The request head, up to the blank line; `None` if the peer closes
/// first or sends more than [`HEAD_LIMIT`] without one.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        if buf.len() > HEAD_LIMIT {
            return None;
        }
    }
}

/// What the listener makes of one request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Not a `GET` of the redirect path: 404.
    NotFound,
    /// `/callback` without this attempt's `state` (or with several): 400.
    NotOurs,
    /// The authorization response of this attempt.
    Ours {
        /// The request target (`/callback?...`).
        target: String,
        /// `Some(error)` if it carries no code.
        error: Option<String>,
    },
}

fn judge(head: &str, expected_path: &str, state: &str) -> Verdict {
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let (Some("GET"), Some(target)) = (parts.next(), parts.next()) else {
        return Verdict::NotFound;
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != expected_path {
        return Verdict::NotFound;
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let values = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    match values("state").as_slice() {
        [given] if constant_time_eq(given.as_bytes(), state.as_bytes()) => {}
        _ => return Verdict::NotOurs,
    }
    let error = if values("code").len() == 1 {
        None
    } else {
        let error = values("error").first().copied().unwrap_or("no code");
        let description = values("error_description").first().copied();
        Some(match description {
            Some(d) => format!("{error}: {d}"),
            None => error.to_owned(),
        })
    };
    Verdict::Ours {
        target: target.to_owned(),
        error,
    }
}

impl Verdict {
    fn response(&self) -> String {
        let (status, title, text) = match self {
            Self::NotFound => ("404 Not Found", "Not found", "Nothing is here.".to_owned()),
            Self::NotOurs => (
                "400 Bad Request",
                "Not this sign-in",
                "This page does not belong to the sign-in the application is waiting for. \
                 It is still waiting; finish signing in in the tab it opened."
                    .to_owned(),
            ),
            Self::Ours { error: None, .. } => (
                "200 OK",
                "Signed in",
                "You are signed in. You can close this tab and return to the application."
                    .to_owned(),
            ),
            Self::Ours { error: Some(e), .. } => (
                "200 OK",
                "Sign-in failed",
                format!(
                    "The sign-in did not complete: {}. Return to the application.",
                    escape(e)
                ),
            ),
        };
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body style=\"font-family:system-ui,sans-serif;text-align:center;margin-top:4rem\">\
             <h1>{title}</h1><p>{text}</p></body></html>"
        );
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
             cache-control: no-store\r\nx-frame-options: DENY\r\n\
             content-security-policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
             referrer-policy: no-referrer\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> String {
        format!("GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
    }

    #[test]
    fn only_this_attempts_callback_ends_the_login() {
        let ours = judge(&get("/callback?code=c&state=s1&iss=x"), "/callback", "s1");
        assert_eq!(
            ours,
            Verdict::Ours {
                target: "/callback?code=c&state=s1&iss=x".into(),
                error: None
            }
        );
        for other in [
            "/callbackX?code=c&state=s1",
            "/callback/?code=c&state=s1",
            "/callback/x?code=c&state=s1",
            "/favicon.ico",
            "/",
            "*",
        ] {
            assert_eq!(
                judge(&get(other), "/callback", "s1"),
                Verdict::NotFound,
                "{other}"
            );
        }
        assert_eq!(
            judge(
                "POST /callback?code=c&state=s1 HTTP/1.1\r\n\r\n",
                "/callback",
                "s1"
            ),
            Verdict::NotFound
        );
        assert_eq!(judge("garbage", "/callback", "s1"), Verdict::NotFound);
        for wrong in [
            "/callback?code=c",
            "/callback?code=c&state=s2",
            "/callback?code=c&state=s1x",
            "/callback?code=c&state=",
            "/callback?code=c&state=s1&state=s1",
        ] {
            assert_eq!(
                judge(&get(wrong), "/callback", "s1"),
                Verdict::NotOurs,
                "{wrong}"
            );
        }
    }

    #[test]
    fn a_chosen_path_is_the_only_one_answered() {
        let ours = judge(&get("/oauth/done?code=c&state=s1"), "/oauth/done", "s1");
        assert!(matches!(ours, Verdict::Ours { error: None, .. }));
        assert_eq!(
            judge(&get("/callback?code=c&state=s1"), "/oauth/done", "s1"),
            Verdict::NotFound
        );
    }

    #[test]
    fn the_page_says_signed_in_only_with_a_code_and_escapes_errors() {
        let ok = judge(&get("/callback?code=c&state=s"), "/callback", "s").response();
        assert!(ok.starts_with("HTTP/1.1 200") && ok.contains("You are signed in"));
        let denied = judge(
            &get(
                "/callback?error=access_denied&error_description=%3Cscript%3Ex%3C%2Fscript%3E&state=s",
            ),
            "/callback",
            "s",
        );
        assert!(matches!(denied, Verdict::Ours { error: Some(_), .. }));
        let page = denied.response();
        assert!(
            !page.contains("signed in") && page.contains("access_denied"),
            "{page}"
        );
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"));
        let nothing = judge(&get("/callback?state=s"), "/callback", "s").response();
        assert!(nothing.contains("did not complete: no code"));
        assert!(
            judge(&get("/nope"), "/callback", "s")
                .response()
                .starts_with("HTTP/1.1 404")
        );
        assert!(
            judge(&get("/callback?state=t"), "/callback", "s")
                .response()
                .starts_with("HTTP/1.1 400")
        );
    }
}
