//! The rmcp side: an HTTP client for rmcp's streamable-HTTP transport that
//! puts the session's token on every request, refreshes or logs in again
//! on a 401, and steps up on a 403 `insufficient_scope` (three
//! authorizations at most per request), all through the session's single lock.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};

use crate::error::ClientError;
use crate::session::Session;

type HttpError = StreamableHttpError<reqwest::Error>;

/// Most (re-)authorizations for one request, counting the login after a
/// 401 and every step-up after a 403.
const MAX_ATTEMPTS: usize = 3;

/// An rmcp HTTP client that authorizes its requests: it sends the
/// session's token, refreshes or logs in again on a 401, and steps up on a
/// 403 `insufficient_scope`. Made by
/// [`OAuthClient::authorized_client`](crate::OAuthClient::authorized_client).
///
/// ```no_run
/// use rmcp::ServiceExt;
/// use rmcp::transport::StreamableHttpClientTransport;
/// use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
///
/// # async fn run(client: mcp_oauth_client::OAuthClient) -> Result<(), Box<dyn std::error::Error>> {
/// let url = "https://mcp.example.com/mcp";
/// let config = StreamableHttpClientTransportConfig::with_uri(url);
/// let transport =
///     StreamableHttpClientTransport::with_client(client.authorized_client(url)?, config);
/// let mcp = ().serve(transport).await?;
/// # let _ = mcp; Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthorizedClient {
    http: reqwest::Client,
    session: Arc<Session>,
}

impl std::fmt::Debug for AuthorizedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizedClient")
    }
}

/// `custom` plus the MCP 2026-07-28 request headers of `message`:
/// `Mcp-Method` (its JSON-RPC method) and, for `tools/call`, `Mcp-Name`
/// (the tool), unless already set. Servers of earlier revisions ignore
/// them; a value that cannot be a header is left out.
fn with_mcp_headers(
    custom: &HashMap<HeaderName, HeaderValue>,
    message: &ClientJsonRpcMessage,
) -> HashMap<HeaderName, HeaderValue> {
    let mut headers = custom.clone();
    let Ok(value) = serde_json::to_value(message) else {
        return headers;
    };
    let method = value.get("method").and_then(|m| m.as_str());
    let param = |key: &str| {
        value
            .get("params")
            .and_then(|p| p.get(key))
            .and_then(|n| n.as_str())
    };
    let name = match method {
        Some("tools/call") => param("name"),
        _ => None,
    };
    // Not MCP-Protocol-Version on `initialize`: a 2026-07-28 server that
    // sees it there expects the per-request `_meta` envelope of that
    // revision, which rmcp 3.11 does not write (the Python SDK 2.3 server
    // then refuses every request).
    for (header, text) in [("mcp-method", method), ("mcp-name", name)] {
        if let Some(text) = text
            && let Ok(v) = HeaderValue::from_str(text)
        {
            headers.entry(HeaderName::from_static(header)).or_insert(v);
        }
    }
    headers
}

fn flow_error(e: ClientError) -> HttpError {
    StreamableHttpError::Io(std::io::Error::other(e))
}

impl AuthorizedClient {
    pub(crate) fn new(http: reqwest::Client, session: Arc<Session>) -> Self {
        Self { http, session }
    }

    async fn authorized<T, F, Fut>(&self, call: F) -> Result<T, HttpError>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, HttpError>>,
    {
        let mut token = self.session.current_token().await.map_err(flow_error)?;
        let mut reauthorized = false;
        let mut attempts = 0;
        loop {
            let sent = token.as_ref().map(|t| t.secret().to_owned());
            match call(sent.clone()).await {
                Err(StreamableHttpError::AuthRequired(e))
                    if !reauthorized && attempts < MAX_ATTEMPTS =>
                {
                    reauthorized = true;
                    attempts += 1;
                    let fresh = self
                        .session
                        .unauthorized(sent.as_deref(), Some(&e.www_authenticate_header))
                        .await
                        .map_err(flow_error)?;
                    token = Some(fresh);
                }
                Err(StreamableHttpError::InsufficientScope(e)) if attempts < MAX_ATTEMPTS => {
                    attempts += 1;
                    let fresh = self
                        .session
                        .insufficient_scope(sent.as_deref(), &e.www_authenticate_header)
                        .await
                        .map_err(flow_error)?;
                    token = Some(fresh);
                }
                other => return other,
            }
        }
    }
}

impl StreamableHttpClient for AuthorizedClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let custom_headers = with_mcp_headers(&custom_headers, &message);
        self.authorized(|token| {
            self.http.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let custom_headers = with_mcp_headers(&custom_headers, &message);
        self.authorized(|token| {
            self.http.post_message_with_max_sse_event_size(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let custom_headers = with_mcp_headers(&custom_headers, &message);
        self.authorized(|token| {
            self.http.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
                limits,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        self.authorized(|token| {
            self.http.delete_session(
                uri.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<
        futures_core::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        HttpError,
    > {
        self.authorized(|token| {
            self.http.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<
        futures_core::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        HttpError,
    > {
        self.authorized(|token| {
            self.http.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(h: &'a HashMap<HeaderName, HeaderValue>, name: &'static str) -> &'a str {
        h.get(&HeaderName::from_static(name))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[test]
    fn requests_name_their_method_and_tool_in_headers() {
        let call: ClientJsonRpcMessage = serde_json::from_value(serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "delete_file", "arguments": {}}
        }))
        .unwrap();
        let h = with_mcp_headers(&HashMap::new(), &call);
        assert_eq!(get(&h, "mcp-method"), "tools/call");
        assert_eq!(get(&h, "mcp-name"), "delete_file");
        let list: ClientJsonRpcMessage = serde_json::from_value(serde_json::json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/list"
        }))
        .unwrap();
        let h = with_mcp_headers(&HashMap::new(), &list);
        assert_eq!(get(&h, "mcp-method"), "tools/list");
        assert!(!h.contains_key(&HeaderName::from_static("mcp-name")));
        // A header the caller set is kept.
        let mut custom = HashMap::new();
        custom.insert(
            HeaderName::from_static("mcp-method"),
            HeaderValue::from_static("x"),
        );
        assert_eq!(get(&with_mcp_headers(&custom, &list), "mcp-method"), "x");
    }
}
