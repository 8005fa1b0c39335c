//! The authorization server inside an actix-web application of your own:
//! the app keeps its routes, and the server's live under the issuer's path
//! (`/auth` here), with its metadata at the RFC 8414 well-known addresses.
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example embedded_server -- [PORT]
//! curl http://127.0.0.1:9000/.well-known/oauth-authorization-server/auth
//! ```
//!
//! The superuser is `admin` with the password of `MCP_OAUTH_SUPERUSER_PASSWORD`
//! (default `change me now please`). Storage is in memory; pass a
//! [`mcp_oauth_server::storage::open`] URL such as `sqlite:./as.db` for one
//! that survives restarts.

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::secret::Password;
use mcp_oauth_server::storage::MemoryStorage;
use mcp_oauth_server::{AuthServer, ServerConfig, configure};

/// An actix-web application with the authorization server inside.
#[derive(clap::Parser)]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(default_value_t = 9000)]
    port: u16,
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args { port } = clap::Parser::parse();
    let password = std::env::var("MCP_OAUTH_SUPERUSER_PASSWORD")
        .unwrap_or_else(|_| "change me now please".into());
    let issuer = Issuer::parse(format!("http://127.0.0.1:{port}/auth"))?;
    let config = ServerConfig::new(issuer).superuser("admin", Password::new(password));
    let server = AuthServer::new(config, Arc::new(MemoryStorage::new())).await?;
    // Expired codes, refresh tokens and unused registrations are purged
    // every minute while the server lives.
    let _maintenance = server.spawn_maintenance();
    eprintln!("authorization server at {}", server.metadata().issuer);

    HttpServer::new(move || {
        App::new()
            .route(
                "/",
                web::get().to(|| async { HttpResponse::Ok().body("the app's own page") }),
            )
            .configure(configure(server.clone()))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
