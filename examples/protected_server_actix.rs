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

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 8000;
    let mut issuer = "http://127.0.0.1:9000".to_owned();
    let mut allowed_origins: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--issuer" => issuer = args.next().ok_or("--issuer needs a value")?,
            "--allowed-origin" => allowed_origins.push(
                args.next()
                    .ok_or("--allowed-origin needs scheme://host[:port]")?,
            ),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
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
