//! An MCP agent that logs in with mcp-oauth-client, lists the tools of a
//! protected MCP server and calls one.
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example agent -- --mcp-url http://127.0.0.1:8000/mcp [--username U --password P] [--tool NAME]
//! ```
//!
//! With credentials it logs in headless; without, it opens the browser.
//! Tokens are kept, encrypted, in `./agent-tokens.bin` under the key in
//! `MCP_OAUTH_TOKEN_KEY` (32 bytes, base64), or in memory when that is not set.

use std::sync::Arc;

use mcp_oauth_client::{FileStore, Login, MemoryStore, OAuthClient, TokenStore};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut url, mut user, mut password, mut tool) =
        (None, None, None, "get_user_profile".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--mcp-url" => url = Some(value()?),
            "--username" => user = Some(value()?),
            "--password" => password = Some(value()?),
            "--tool" => tool = value()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let url = url.ok_or("--mcp-url is required")?;
    let login = match (user, password) {
        (Some(u), Some(p)) => Login::Credentials(serde_json::json!({"username": u, "password": p})),
        _ => Login::Browser,
    };
    let store: Arc<dyn TokenStore> =
        match FileStore::encrypted_from_env("agent-tokens.bin", "MCP_OAUTH_TOKEN_KEY") {
            Ok(store) => store,
            Err(_) => MemoryStore::new(),
        };
    let client = OAuthClient::builder("mcp-oauth-example-agent")
        .login(login)
        .token_store(store)
        .build()?;
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
