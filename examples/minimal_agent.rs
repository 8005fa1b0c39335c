//! The smallest agent: logs in to a protected MCP server with the device
//! flow (no browser needed: it prints a code and a page), keeps its tokens
//! and its one registration in an encrypted file, and lists the tools.
//!
//! ```text
//! export MCP_OAUTH_TOKEN_KEY=$(cargo run -q -p mcp-oauth-examples --example store_key)
//! cargo run -p mcp-oauth-examples --example minimal_agent -- --mcp-url http://127.0.0.1:8000/mcp
//! ```
//!
//! Dependencies (versions of this repository):
//!
//! ```toml
//! [dependencies]
//! mcp-oauth-client = "0.1" # re-exports the rmcp it is built with
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! clap = { version = "4", features = ["derive"] }
//! ```

use mcp_oauth_client::rmcp::ServiceExt;
use mcp_oauth_client::{FileStore, Login, OAuthClient};

/// Arguments.
#[derive(clap::Parser)]
struct Args {
    /// The MCP server's URL, exactly as the server names its resource.
    #[arg(long, default_value = "http://127.0.0.1:8000/mcp")]
    mcp_url: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Args = clap::Parser::parse();
    let client = OAuthClient::builder("minimal-agent")
        .login(Login::device())
        .token_store(FileStore::encrypted_from_env(
            "agent-tokens.bin",
            "MCP_OAUTH_TOKEN_KEY",
        )?)
        .build()?;
    let mcp = ().serve(client.transport(&args.mcp_url)?).await?;
    for tool in mcp.list_all_tools().await? {
        println!("{}", tool.name);
    }
    mcp.cancel().await?;
    Ok(())
}
