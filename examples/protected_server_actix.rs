//! The protected profile server of `protected_server`, on actix-web
//! (through `rmcp-actix-web`) instead of axum.
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example protected_server_actix -- [--port 8000] [--issuer http://127.0.0.1:9000]
//! ```

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpMessage, HttpServer, web};
use mcp_oauth_examples::profile::{ProfileServer, Profiles, WRITE_SCOPE};
use mcp_oauth_verifier::{Claims, Verifier, actix};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp_actix_web::transport::StreamableHttpService;

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 8000;
    let mut issuer = "http://127.0.0.1:9000".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--issuer" => issuer = args.next().ok_or("--issuer needs a value")?,
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
        .build()?;
    let profiles = Profiles::default();
    let mcp = StreamableHttpService::builder()
        .service_factory(Arc::new(move || Ok(ProfileServer::new(profiles.clone()))))
        .session_manager(Arc::new(LocalSessionManager::default()))
        .allowed_hosts(vec![format!("127.0.0.1:{port}")])
        // Hand the verified caller to the tools.
        .on_request_fn(|req, ext| {
            if let Some(claims) = req.extensions().get::<Claims>() {
                ext.insert(claims.clone());
            }
        })
        .build();
    println!("MCP server at {resource}");
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(verifier.clone()))
            .configure(actix::metadata_routes(&verifier))
            .service(
                web::scope("/mcp")
                    .wrap(from_fn(actix::verify))
                    .service(mcp.clone().scope()),
            )
    })
    .listen(listener)?
    .run()
    .await?;
    Ok(())
}
