//! A small MCP server (rmcp) with per-user profiles: `get_user_profile`
//! reads the caller's profile and identity, `set_user_profile` writes it
//! and needs the extra scope `profile:write` (so a client must step up).
//! Tools read the caller's [`Claims`] from the HTTP request parts.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use mcp_oauth_verifier::{Claims, Verifier};
use parking_lot::Mutex;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

/// The scope `set_user_profile` needs.
pub const WRITE_SCOPE: &str = "profile:write";

/// Profiles by subject, shared by all sessions.
pub type Profiles = Arc<Mutex<HashMap<String, String>>>;

/// The MCP server.
#[derive(Clone)]
pub struct ProfileServer {
    profiles: Profiles,
    #[expect(dead_code, reason = "read by the code #[tool_handler] generates")]
    tool_router: ToolRouter<Self>,
}

/// Arguments of `set_user_profile`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct SetProfile {
    /// Free text to store as the caller's profile.
    pub profile: String,
}

/// The verified caller, under axum or actix-web alike.
fn caller(parts: &http::request::Parts) -> Result<&Claims, rmcp::ErrorData> {
    Claims::from_parts(parts).ok_or_else(|| {
        rmcp::ErrorData::internal_error("request reached the tool unauthenticated", None)
    })
}

#[tool_router]
impl ProfileServer {
    /// A server over these profiles.
    pub fn new(profiles: Profiles) -> Self {
        Self {
            profiles,
            tool_router: Self::tool_router(),
        }
    }

    /// The caller's identity and stored profile.
    #[tool(description = "Return who you are (subject, client, scopes) and your stored profile")]
    async fn get_user_profile(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<String, rmcp::ErrorData> {
        let claims = caller(&parts)?;
        let profile = self.profiles.lock().get(&claims.subject).cloned();
        Ok(serde_json::json!({
            "subject": claims.subject,
            "client_id": claims.client_id,
            "scopes": claims.scopes.to_string(),
            "profile": profile,
        })
        .to_string())
    }

    /// Stores the caller's profile (needs `profile:write`).
    #[tool(description = "Store your profile text (needs the profile:write scope)")]
    async fn set_user_profile(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(SetProfile { profile }): Parameters<SetProfile>,
    ) -> Result<String, rmcp::ErrorData> {
        let claims = caller(&parts)?;
        if !claims.has_scope(WRITE_SCOPE) {
            // The verifier layer refuses such calls with 403 first; this is
            // the tool's own line of defence.
            return Err(rmcp::ErrorData::invalid_request(
                "profile:write scope required",
                None,
            ));
        }
        self.profiles.lock().insert(claims.subject.clone(), profile);
        Ok(format!("saved profile of {}", claims.subject))
    }
}

#[tool_handler]
impl ServerHandler for ProfileServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The axum app: RFC 9728 metadata, and the MCP endpoint at `/mcp` behind
/// the verifier. `allowed_hosts` lists the `Host` values the MCP service
/// accepts (rmcp's DNS-rebinding guard).
pub fn app(verifier: &Verifier, profiles: Profiles, allowed_hosts: Vec<String>) -> Router {
    app_with_layer(verifier, verifier.layer(), profiles, allowed_hosts)
}

/// [`app`] with the verifier's layer as given (for instance
/// `verifier.layer().filter_tools_list(true)`).
pub fn app_with_layer(
    verifier: &Verifier,
    layer: mcp_oauth_verifier::tower::VerifierLayer,
    profiles: Profiles,
    allowed_hosts: Vec<String>,
) -> Router {
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts);
    let mcp = StreamableHttpService::new(
        move || Ok(ProfileServer::new(profiles.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .merge(verifier.metadata_router())
        .nest_service("/mcp", layer.layer(mcp))
}

/// The MCP service for actix-web (rmcp-actix-web), handing the verified
/// caller to the tools through its `on_request` hook.
pub fn actix_mcp_service(
    profiles: Profiles,
    allowed_hosts: Vec<String>,
) -> rmcp_actix_web::transport::StreamableHttpService<ProfileServer> {
    rmcp_actix_web::transport::StreamableHttpService::builder()
        .service_factory(Arc::new(move || Ok(ProfileServer::new(profiles.clone()))))
        .session_manager(Arc::new(LocalSessionManager::default()))
        .allowed_hosts(allowed_hosts)
        .on_request_fn(|req, ext| {
            use actix_web::HttpMessage;
            if let Some(claims) = req.extensions().get::<Arc<Claims>>() {
                ext.insert(claims.clone());
            }
        })
        .build()
}

/// Mounts metadata and the protected MCP endpoint at `/mcp` in an
/// actix-web app (call inside `HttpServer::new`).
pub fn configure_actix(
    verifier: &Verifier,
    mcp: &rmcp_actix_web::transport::StreamableHttpService<ProfileServer>,
) -> impl FnOnce(&mut actix_web::web::ServiceConfig) + use<> {
    mcp_oauth_verifier::actix::protect(verifier, mcp.clone().scope())
}

/// [`configure_actix`], with `tools/list` answers filtered to the tools the
/// caller's token may call.
pub fn configure_actix_filtered(
    verifier: &Verifier,
    mcp: &rmcp_actix_web::transport::StreamableHttpService<ProfileServer>,
) -> impl FnOnce(&mut actix_web::web::ServiceConfig) + use<> {
    let middleware = mcp_oauth_verifier::actix::middleware(verifier).filter_tools_list(true);
    mcp_oauth_verifier::actix::protect_with(middleware, mcp.clone().scope())
}
