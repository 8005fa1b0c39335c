//! A client for the `@modelcontextprotocol/conformance` suite: the server
//! URL is the last argument, the scenario name is in
//! `MCP_CONFORMANCE_SCENARIO`, pre-registered credentials (if any) in
//! `MCP_CONFORMANCE_CONTEXT`. It connects, lists the tools, calls each one
//! that takes no arguments, and exits 0 on success.
//!
//! ```text
//! npx @modelcontextprotocol/conformance client --suite auth \
//!     --command "target/debug/examples/conformance_client"
//! ```

use std::process::ExitCode;

use mcp_oauth_client::{Login, OAuthClient};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;

/// The metadata document URL the suite's CIMD scenario expects.
const CIMD_URL: &str = "https://conformance-test.local/client-metadata.json";

#[tokio::main]
async fn main() -> ExitCode {
    let Some(url) = std::env::args()
        .next_back()
        .filter(|a| a.starts_with("http"))
    else {
        eprintln!("usage: conformance_client SERVER_URL");
        return ExitCode::from(2);
    };
    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context: serde_json::Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or_default();
    let mut builder = OAuthClient::builder("mcp-oauth-conformance-client")
        .login(Login::Credentials(serde_json::json!({})))
        .metadata_document_url(CIMD_URL);
    let field = |k: &str| context.get(k).and_then(|v| v.as_str());
    builder = match (
        field("client_id"),
        field("client_secret"),
        field("private_key_pem"),
    ) {
        (Some(id), _, Some(pem)) => {
            builder.private_key_jwt(id, pem, field("signing_algorithm").unwrap_or("ES256"))?
        }
        (Some(id), Some(secret), None) => builder.client_credentials(id, secret),
        (Some(id), None, None) => builder.client_id(id),
        _ => builder,
    };
    if scenario.contains("client-credentials") {
        builder = builder.login(Login::ClientCredentials);
    }
    let client = builder.build()?;
    let mcp = ().serve(client.transport(url)?).await?;
    let tools = mcp.list_all_tools().await?;
    for tool in tools {
        let empty = tool
            .input_schema
            .get("required")
            .is_none_or(|r| r.as_array().is_none_or(|a| a.is_empty()));
        if empty {
            let result = mcp
                .call_tool(CallToolRequestParams::new(tool.name.clone()))
                .await?;
            eprintln!("called {}: error={:?}", tool.name, result.is_error);
        }
    }
    let _ = mcp.cancel().await;
    Ok(())
}
