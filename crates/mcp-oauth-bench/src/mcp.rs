//! The MCP side: the examples' profile server behind the verifier (or with
//! no auth, as the baseline), authenticated `tools/list` as a scenario, and
//! an agent connecting from nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use mcp_oauth_client::{Login, MemoryStore, OAuthClient};
use mcp_oauth_examples::profile::{ProfileServer, Profiles, app};
use mcp_oauth_verifier::Verifier;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use crate::BoxError;
use crate::flows::{PASSWORD, USER};
use crate::load::{Conn, Scenario, Worker};

/// The introspection credential the benchmarked AS accepts.
pub(crate) const RS_CREDENTIAL: (&str, &str) = ("rs", "bench-rs-secret-0123");
/// The resource the authorization-server rows ask tokens for.
pub(crate) const BENCH_RESOURCE: &str = "http://127.0.0.1:8000/mcp";
/// The trusted first-party client the agent row logs in as.
const AGENT_CLIENT: &str = "bench-agent";

/// How the resource server checks tokens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No verifier at all (the baseline).
    None,
    /// Local JWT verification with the AS's JWKS.
    Jwt,
    /// RFC 7662 introspection at the AS, cached.
    Introspection,
}

impl Auth {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "jwt" => Some(Self::Jwt),
            "introspection" => Some(Self::Introspection),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Jwt => "jwt",
            Self::Introspection => "introspection",
        }
    }
}

/// The router of the profile server at `/mcp` on `port`.
fn router(auth: Auth, port: u16, issuer: &str) -> Result<axum::Router, BoxError> {
    let hosts = vec![format!("127.0.0.1:{port}")];
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let profiles = Profiles::default();
    let builder = Verifier::builder(resource)
        .authorization_server(issuer)
        .required_scopes(["mcp"]);
    Ok(match auth {
        Auth::None => {
            let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
            let mcp = StreamableHttpService::new(
                move || Ok(ProfileServer::new(profiles.clone())),
                Arc::new(LocalSessionManager::default()),
                config,
            );
            axum::Router::new().nest_service("/mcp", mcp)
        }
        Auth::Jwt => app(&builder.build()?, profiles, hosts),
        Auth::Introspection => app(
            &builder
                .introspection(RS_CREDENTIAL.0, RS_CREDENTIAL.1)
                .build()?,
            profiles,
            hosts,
        ),
    })
}

/// Runs the profile server (one thread, like the pinned AS) until killed.
pub(crate) fn rs_server(auth: Auth, port: u16, issuer: &str) -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await?
            .tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
        axum::serve(listener, router(auth, port, issuer)?).await?;
        Ok(())
    })
}

/// `tools/list` on an initialized session, over and over.
pub(crate) struct ToolsList {
    /// The bearer token, if the server wants one.
    pub(crate) token: Option<String>,
}

const ACCEPT: (&str, &str) = ("accept", "application/json, text/event-stream");
const VERSION: (&str, &str) = ("mcp-protocol-version", "2025-06-18");

#[async_trait::async_trait]
impl Scenario for ToolsList {
    async fn worker(&self, conn: &mut Conn) -> Result<Box<dyn Worker>, BoxError> {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![ACCEPT, VERSION];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "bench", "version": "1"}}});
        let r = conn
            .post_json("/mcp", &headers, &init)
            .await?
            .expect(200, "initialize")?;
        let session = r.header("mcp-session-id").to_owned();
        headers.push(("mcp-session-id", &session));
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let r = conn.post_json("/mcp", &headers, &note).await?;
        if !r.status.is_success() {
            return Err(format!("initialized: HTTP {}", r.status).into());
        }
        Ok(Box::new(ToolsListWorker {
            auth,
            session,
            body: json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        }))
    }
}

struct ToolsListWorker {
    auth: Option<String>,
    session: String,
    body: serde_json::Value,
}

#[async_trait::async_trait]
impl Worker for ToolsListWorker {
    async fn once(&mut self, conn: &mut Conn) -> Result<(), BoxError> {
        let mut headers = vec![ACCEPT, VERSION, ("mcp-session-id", self.session.as_str())];
        if let Some(a) = &self.auth {
            headers.push(("authorization", a));
        }
        let r = conn
            .post_json("/mcp", &headers, &self.body)
            .await?
            .expect(200, "tools/list")?;
        if lists_tools(&r.body) {
            Ok(())
        } else {
            Err("tools/list answered without tools".into())
        }
    }
}

fn lists_tools(body: &[u8]) -> bool {
    body.windows(b"get_user_profile".len())
        .any(|w| w == b"get_user_profile")
}

/// Connect times of an agent from nothing (new client, empty token store):
/// 401, discovery, registration, headless password login, token,
/// `initialize`, `tools/list`, all in this process on loopback.
pub(crate) async fn agent_connects(times: usize) -> Result<Vec<Duration>, BoxError> {
    let auth_server = mcp_oauth_server::QuickServer::new("127.0.0.1", 0)
        .superuser(USER, PASSWORD)
        .configure(|c| {
            c.client(
                mcp_oauth_server::OperatorClient::public(
                    AGENT_CLIENT,
                    ["http://127.0.0.1/callback"],
                )
                .headless_login(),
            )
        })
        .start()
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = router(Auth::Jwt, port, &auth_server.issuer)?;
    let rs = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut out = Vec::with_capacity(times);
    for _ in 0..times {
        let start = Instant::now();
        let client = OAuthClient::builder("bench-agent")
            .authorization_server(auth_server.issuer.as_str())
            .client_id(AGENT_CLIENT)
            .login(Login::password(USER, PASSWORD))
            .token_store(MemoryStore::new())
            .build()?;
        let mcp = ().serve(client.transport(&url)?).await?;
        let tools = mcp.list_all_tools().await?;
        out.push(start.elapsed());
        if tools.is_empty() {
            return Err("the agent saw no tools".into());
        }
        let _ = mcp.cancel().await;
    }
    rs.abort();
    auth_server.stop().await;
    Ok(out)
}

/// Median time of one Argon2id verification with the server's parameters.
pub(crate) fn argon2_verify_cost() -> Result<Duration, BoxError> {
    let phc = mcp_oauth_server::password::hash_password(PASSWORD)?;
    let mut times = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let ok = mcp_oauth_server::password::verify_password(PASSWORD, &phc);
        times.push(start.elapsed());
        if !ok {
            return Err("the password did not verify".into());
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}
