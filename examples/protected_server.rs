//! An MCP server protected by the mcp-oauth verifier (axum + rmcp).
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example protected_server -- [--port 8000] [--issuer http://127.0.0.1:9000] [--introspect CLIENT_ID:SECRET] [--allowed-origin ORIGIN]...
//! ```
//!
//! Tokens must come from the issuer, be for `http://127.0.0.1:PORT/mcp` and
//! carry `mcp`; `set_user_profile` also needs `profile:write`. By default
//! tokens are verified locally with the issuer's JWKS; `--introspect` asks
//! the issuer instead. Browser pages may call the server only from its own
//! origin and those named with `--allowed-origin` (repeatable, e.g.
//! `--allowed-origin http://localhost:6274` for a local inspector); other
//! `Origin`s get 403.

use axum::serve::ListenerExt;
use mcp_oauth_examples::profile::{WRITE_SCOPE, app};
use mcp_oauth_verifier::Verifier;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 8000;
    let mut issuer = "http://127.0.0.1:9000".to_owned();
    let mut introspect: Option<(String, String)> = None;
    let mut allowed_origins: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--issuer" => issuer = args.next().ok_or("--issuer needs a value")?,
            "--introspect" => {
                let v = args.next().ok_or("--introspect needs CLIENT_ID:SECRET")?;
                let (id, secret) = v
                    .split_once(':')
                    .ok_or("--introspect needs CLIENT_ID:SECRET")?;
                introspect = Some((id.to_owned(), secret.to_owned()));
            }
            "--allowed-origin" => allowed_origins.push(
                args.next()
                    .ok_or("--allowed-origin needs scheme://host[:port]")?,
            ),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let builder = Verifier::builder(resource.clone())
        .authorization_server(issuer)
        .required_scopes(["mcp"])
        .scopes_supported(["mcp", WRITE_SCOPE])
        .tool_scope("set_user_profile", WRITE_SCOPE)
        .allowed_origins(allowed_origins);
    let verifier = match introspect {
        Some((id, secret)) => builder.introspection(id, secret).build()?,
        None => builder.jwks().build()?,
    };
    let app = app(
        &verifier,
        Default::default(),
        vec![format!("127.0.0.1:{port}"), "127.0.0.1".into()],
    );
    println!("MCP server at {resource}");
    // Small JSON-RPC answers must not wait for Nagle's algorithm (~40 ms
    // with delayed ACKs on the other side).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
