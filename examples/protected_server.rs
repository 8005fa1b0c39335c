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

/// A protected rmcp server (axum) behind the verifier.
#[derive(clap::Parser)]
struct Args {
    /// Port on 127.0.0.1 (0: any).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// The authorization server that issues its tokens.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    issuer: String,
    /// Verify tokens by introspection with these credentials
    /// (`CLIENT_ID:SECRET`) instead of locally (JWT).
    #[arg(long, value_name = "CLIENT_ID:SECRET")]
    introspect: Option<String>,
    /// A browser origin (`scheme://host[:port]`) allowed to call it.
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        port,
        issuer,
        introspect,
        allowed_origins,
    } = clap::Parser::parse();
    let introspect = introspect
        .map(|v| {
            v.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
                .ok_or("--introspect needs CLIENT_ID:SECRET")
        })
        .transpose()?;
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
