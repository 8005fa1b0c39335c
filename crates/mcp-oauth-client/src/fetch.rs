//! Every HTTP exchange of the OAuth flow goes through here: URLs must be
//! `https` (plain `http` only on a loopback host), each exchange has one
//! deadline for connecting, headers and body together, and bodies are read
//! through a size cap, so a hostile MCP or authorization server can neither
//! make the agent talk in clear nor fill its memory.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::error::{ClientError, FetchError};

/// The most the client reads of any metadata, registration, token or login
/// response (error responses included).
pub(crate) const BODY_LIMIT: usize = 256 * 1024;

/// The longest one exchange (connect, headers and body) may take.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client used when the caller brings none: no redirects
/// followed (the headless login reads them), a total timeout per request.
pub(crate) fn default_http() -> Result<reqwest::Client, ClientError> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .build()?)
}

/// Whether `url` is `https`, or `http` on a loopback host (OAuth 2.1 §1.5:
/// plain http only for development on the same machine).
pub(crate) fn is_secure(url: &url::Url) -> bool {
    url.scheme() == "https" || mcp_oauth_core::redirect::is_loopback(url)
}

/// Parses `url` and refuses it unless it [is secure](is_secure); `what`
/// names it in the error.
pub(crate) fn require_secure(what: &'static str, url: &str) -> Result<url::Url, ClientError> {
    let insecure = || ClientError::InsecureUrl {
        what,
        url: url.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|_| insecure())?;
    if is_secure(&parsed) {
        Ok(parsed)
    } else {
        Err(insecure())
    }
}

/// A response read whole (within [`BODY_LIMIT`]).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// The body as JSON of type `T`.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }

    /// Whether the content type is JSON.
    pub(crate) fn is_json(&self) -> bool {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"))
    }

    /// The start of the body as text, for error messages.
    pub(crate) fn excerpt(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(300)
            .collect()
    }
}

/// Sends `request` (to `url`, named in errors) and reads the answer within
/// [`FETCH_TIMEOUT`] and [`BODY_LIMIT`].
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<Reply, ClientError> {
    exchange_within(request, url, BODY_LIMIT, FETCH_TIMEOUT).await
}

pub(crate) async fn exchange_within(
    request: reqwest::RequestBuilder,
    url: &str,
    limit: usize,
    timeout: Duration,
) -> Result<Reply, ClientError> {
    let fetch = async {
        let response = request.send().await.map_err(http_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(response, limit).await?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    };
    let result = match tokio::time::timeout(timeout, fetch).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(timeout)),
    };
    result.map_err(|source| ClientError::Fetch {
        url: url.to_owned(),
        source,
    })
}

fn http_error(e: reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout(FETCH_TIMEOUT)
    } else {
        FetchError::Http(e)
    }
}

/// Reads the body chunk by chunk and stops (dropping, so closing, the
/// connection) as soon as it would exceed `limit`.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, FetchError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(FetchError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_secure() {
        for ok in [
            "https://mcp.example.com/mcp",
            "https://127.0.0.1:8443",
            "http://127.0.0.1:8000/mcp",
            "http://127.9.9.9/x",
            "http://[::1]:9000",
            "http://localhost:9000/",
            "http://LOCALHOST/",
        ] {
            assert!(require_secure("test URL", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://mcp.example.com/mcp",
            "http://10.0.0.1/mcp",
            "http://192.168.1.2:8000",
            "http://localhost.example.com/",
            "http://127.0.0.1.nip.io/",
            "ftp://127.0.0.1/",
            "ws://127.0.0.1/",
            "not a url",
        ] {
            let err = require_secure("test URL", bad).unwrap_err();
            assert!(
                matches!(err, ClientError::InsecureUrl { what: "test URL", ref url } if url == bad),
                "{bad}: {err}"
            );
        }
    }
}
