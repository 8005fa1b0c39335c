//! An MCP server (rmcp) whose tool calls an upstream provider's API as the
//! person calling it: the tool exchanges the request's bearer token at the
//! authorization server for the person's token at that provider
//! ([`Verifier::exchange_for`]) and sends it to the provider's API.
//!
//! The authorization server must keep the provider's tokens
//! (`store_tokens = true`) and list this resource server's client in the
//! provider's `exchange_clients`; the verifier needs that client's
//! credentials (`.exchange_credentials(..)`).

use std::sync::Arc;

use axum::Router;
use mcp_oauth_verifier::Verifier;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

/// The MCP server: one tool, `upstream_user`.
#[derive(Clone)]
pub struct UpstreamApiServer {
    verifier: Verifier,
    upstream: String,
    api_url: String,
    http: reqwest::Client,
    #[expect(dead_code, reason = "read by the code #[tool_handler] generates")]
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl UpstreamApiServer {
    /// A server whose tool asks `api_url` (e.g.
    /// `https://api.github.com/user`) about the caller, with their token
    /// at `upstream` (e.g. `github`).
    pub fn new(
        verifier: Verifier,
        upstream: impl Into<String>,
        api_url: impl Into<String>,
    ) -> Self {
        Self {
            verifier,
            upstream: upstream.into(),
            api_url: api_url.into(),
            http: reqwest::Client::new(),
            tool_router: Self::tool_router(),
        }
    }

    /// Who the caller is at the upstream provider, from its API.
    #[tool(description = "Ask the upstream provider's API who you are, with your own token there")]
    async fn upstream_user(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<String, rmcp::ErrorData> {
        let token = self
            .verifier
            .exchange_for(&parts, &self.upstream)
            .await
            .map_err(|e| {
                let hint = if e.needs_sign_in() {
                    " (sign in with the provider again)"
                } else {
                    ""
                };
                rmcp::ErrorData::invalid_request(format!("{e}{hint}"), None)
            })?;
        let response = self
            .http
            .get(&self.api_url)
            .bearer_auth(token.secret())
            .header("accept", "application/json")
            .header("user-agent", "mcp-oauth-example")
            .send()
            .await
            .map_err(|e| rmcp::ErrorData::internal_error(format!("upstream API: {e}"), None))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| rmcp::ErrorData::internal_error(format!("upstream API: {e}"), None))?;
        if !status.is_success() {
            return Err(rmcp::ErrorData::internal_error(
                format!("upstream API answered HTTP {status}"),
                None,
            ));
        }
        Ok(body)
    }
}

#[tool_handler]
impl ServerHandler for UpstreamApiServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The axum app: RFC 9728 metadata, and the MCP endpoint at `/mcp` behind
/// the verifier; `allowed_hosts` as for [`crate::profile::app`].
pub fn app(server: UpstreamApiServer, allowed_hosts: Vec<String>) -> Router {
    let verifier = server.verifier.clone();
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts);
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .merge(verifier.metadata_router())
        .nest_service("/mcp", verifier.layer().layer(mcp))
}
