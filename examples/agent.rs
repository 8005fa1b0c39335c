//! An MCP agent that logs in with mcp-oauth-client, lists the tools of a
//! protected MCP server and calls one.
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example agent -- --mcp-url http://127.0.0.1:8000/mcp \
//!     [--issuer URL] [--client-id ID [--client-secret SECRET]]
//!     [--device | --username U --password P] [--tool NAME]
//! ```
//!
//! With `--device` it logs in with the device flow: it prints a code and a
//! page to type it on from any other device (a phone), and waits. With
//! `--username` and `--password` it logs in headless; without either, it
//! opens the browser. A password or a pre-registered client (`--client-id`, with
//! `--client-secret` for a confidential one) belongs to one authorization
//! server, which `--issuer` names: the agent refuses an MCP server that
//! sends it anywhere else, before sending anything there. mcp-oauth-server
//! allows the headless login only to a client its operator created with
//! that permission, so pass that client's id too.
//!
//! Tokens are kept, encrypted, in `./agent-tokens.bin` under the key in
//! `MCP_OAUTH_TOKEN_KEY` (32 bytes, base64), or in memory when that is not set.

use std::sync::Arc;

use clap::Parser;
use mcp_oauth_client::{FileStore, Login, MemoryStore, OAuthClient, TokenStore};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message, then each cause (the client's error sits inside
            // rmcp's transport error).
            eprintln!("error: {e}");
            let mut cause = e.source();
            while let Some(c) = cause {
                eprintln!("  caused by: {c}");
                cause = c.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs in to a protected MCP server, lists its tools and calls one.
#[derive(Parser)]
struct Args {
    /// The MCP server's URL.
    #[arg(long)]
    mcp_url: String,
    /// The one authorization server trusted with a password or a client's
    /// credentials.
    #[arg(long)]
    issuer: Option<String>,
    /// A pre-registered client id.
    #[arg(long)]
    client_id: Option<String>,
    /// The secret of a confidential pre-registered client.
    #[arg(long, requires = "client_id")]
    client_secret: Option<String>,
    /// Log in headless as this user (with `--password`).
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// The user's password (with `--username`).
    #[arg(long, requires = "username")]
    password: Option<String>,
    /// Log in with the device flow (RFC 8628): print a code and a page to
    /// type it on from any other device, and wait.
    #[arg(long, conflicts_with_all = ["username", "password"])]
    device: bool,
    /// The tool to call.
    #[arg(long, default_value = "get_user_profile")]
    tool: String,
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        mcp_url: url,
        issuer,
        client_id,
        client_secret,
        username,
        password,
        device,
        tool,
    } = Args::parse();
    let login = match (username, password) {
        (Some(u), Some(p)) => Login::password(u, p),
        _ if device => Login::device(),
        _ => Login::Browser,
    };
    let bound = matches!(login, Login::Password(_)) || client_id.is_some();
    if bound && issuer.is_none() {
        return Err(
            "--issuer URL is required with --username/--password or --client-id: \
                    a password or a client's credentials go to that authorization server only"
                .into(),
        );
    }
    // With a key, tokens and the registration are kept across runs (one
    // registration, not one per run); without one, for this run only.
    let store: Arc<dyn TokenStore> = if std::env::var_os("MCP_OAUTH_TOKEN_KEY").is_some() {
        FileStore::encrypted_from_env("agent-tokens.bin", "MCP_OAUTH_TOKEN_KEY")?
    } else {
        eprintln!(
            "tokens and the registration are kept for this run only; to keep them, \
             export MCP_OAUTH_TOKEN_KEY=$(cargo run -q -p mcp-oauth-examples --example store_key)"
        );
        MemoryStore::new()
    };
    let mut builder = OAuthClient::builder("mcp-oauth-example-agent")
        .login(login)
        .token_store(store);
    if let Some(issuer) = issuer {
        builder = builder.authorization_server(issuer);
    }
    builder = match (client_id, client_secret) {
        (Some(id), Some(secret)) => builder.client_credentials(id, secret),
        (Some(id), None) => builder.client_id(id),
        (None, _) => builder,
    };
    let client = builder.build()?;
    let mcp = ().serve(client.transport(&url)?).await?;
    let tools = mcp.list_all_tools().await?;
    println!(
        "tools: {}",
        tools
            .iter()
            .map(|t| t.name.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let result = mcp
        .call_tool(CallToolRequestParams::new(tool.clone()))
        .await?;
    for content in result.content {
        if let Some(text) = content.as_text() {
            println!("{tool}: {}", text.text);
        }
    }
    mcp.cancel().await?;
    Ok(())
}
