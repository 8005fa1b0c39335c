//! The protected profile server of `protected_server`, on actix-web
//! (through `rmcp-actix-web`) instead of axum.
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example protected_server_actix -- [--port 8000] [--issuer http://127.0.0.1:9000] [--allowed-origin ORIGIN]...
//! ```
//!
//! As in `protected_server`, browser pages may call it only from its own
//! origin and those named with `--allowed-origin` (repeatable).

use actix_web::{App, HttpServer};
use mcp_oauth_examples::profile::{Profiles, WRITE_SCOPE, actix_mcp_service, configure_actix};
use mcp_oauth_verifier::Verifier;

/// A protected rmcp server on actix-web behind the verifier.
#[derive(clap::Parser)]
struct Args {
    /// Port on 127.0.0.1 (0: any).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// The authorization server that issues its tokens.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    issuer: String,
    /// A browser origin (`scheme://host[:port]`) allowed to call it.
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        port,
        issuer,
        allowed_origins,
    } = clap::Parser::parse();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    let port = listener.local_addr()?.port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let verifier = Verifier::builder(resource.clone())
        .authorization_server(issuer)
        .required_scopes(["mcp"])
        .scopes_supported(["mcp", WRITE_SCOPE])
        .tool_scope("set_user_profile", WRITE_SCOPE)
        .allowed_origins(allowed_origins)
        .build()?;
    let mcp = actix_mcp_service(Profiles::default(), vec![format!("127.0.0.1:{port}")]);
    println!("MCP server at {resource}");
    HttpServer::new(move || App::new().configure(configure_actix(&verifier, &mcp)))
        .listen(listener)?
        .run()
        .await?;
    Ok(())
}
