//! The smallest protected MCP server: one tool that says who called it.
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example minimal_server -- [--issuer http://127.0.0.1:9000] [--port 8000]
//! ```
//!
//! Dependencies (versions of this repository):
//!
//! ```toml
//! [dependencies]
//! mcp-oauth-verifier = { version = "0.1", features = ["rmcp"] } # tower (axum) glue by default
//! rmcp = { version = "3.11", features = ["server", "macros", "transport-streamable-http-server"] }
//! axum = "0.8"
//! http = "1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! clap = { version = "4", features = ["derive"] }
//! ```

use mcp_oauth_verifier::{Claims, Verifier};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

/// The MCP server.
#[derive(Clone)]
struct Whoami {
    #[expect(dead_code, reason = "read by the code #[tool_handler] generates")]
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Whoami {
    /// Who called: the verified token's subject and scopes.
    #[tool(description = "Say who you are")]
    async fn whoami(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<String, rmcp::ErrorData> {
        // The verifier put the caller's claims in the request.
        let claims = Claims::from_parts(&parts)
            .ok_or_else(|| rmcp::ErrorData::internal_error("unauthenticated", None))?;
        Ok(format!("{} ({})", claims.subject, claims.scopes))
    }
}

#[tool_handler]
impl ServerHandler for Whoami {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Arguments.
#[derive(clap::Parser)]
struct Args {
    /// The authorization server that issues the tokens.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    issuer: String,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Args = clap::Parser::parse();
    // The resource URL must be exactly the one agents connect to.
    let resource = format!("http://127.0.0.1:{}/mcp", args.port);
    let verifier = Verifier::builder(resource.as_str())
        .authorization_server(args.issuer) // must list the scope below
        .required_scopes(["mcp"])
        .build()?;
    let mcp = StreamableHttpService::new(
        || {
            Ok(Whoami {
                tool_router: Whoami::tool_router(),
            })
        },
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .merge(verifier.metadata_router())
        .nest_service("/mcp", verifier.layer().layer(mcp));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("protected MCP server at {resource}");
    axum::serve(listener, app).await?;
    Ok(())
}
