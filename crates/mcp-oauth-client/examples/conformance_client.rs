//! A client for the `@modelcontextprotocol/conformance` suite: the server
//! URL is the last argument, the scenario name is in
//! `MCP_CONFORMANCE_SCENARIO`, pre-registered credentials (if any) in
//! `MCP_CONFORMANCE_CONTEXT`, with, for enterprise-managed authorization,
//! the IdP's issuer, the agent's client id there and the person's ID token. It connects, lists the tools, calls each one
//! that takes no arguments, and exits 0 on success.
//!
//! ```text
//! npx @modelcontextprotocol/conformance client --suite auth \
//!     --command "target/debug/examples/conformance_client"
//! ```
//!
//! The suite's authorization servers approve at once, so the login only
//! follows the redirect (a [`Login::Callback`]); no password is involved.
//! Its pre-registered credentials belong to an authorization server this
//! harness learns only from the MCP server: it asks with
//! [`mcp_oauth_client::discover`] and pins the answer as the trusted
//! issuer. That is trust on first use, fine for a test harness whose
//! servers are the suite's own; a real agent is configured with its issuer.

use std::process::ExitCode;
use std::sync::Arc;

use mcp_oauth_client::{
    AuthorizeCallback, FixedIdToken, IdentityAssertion, IdpClient, Login, OAuthClient, discover,
};
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

/// Opens the authorization URL without following redirects and returns
/// where the server sends the browser: the suite approves at once.
fn follow_redirect() -> Login {
    let cb: AuthorizeCallback = Arc::new(|authorize: url::Url| {
        Box::pin(async move {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?;
            let r = http
                .get(authorize)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let location = r
                .headers()
                .get(reqwest::header::LOCATION)
                .ok_or_else(|| format!("the authorization endpoint answered {}", r.status()))?
                .to_str()
                .map_err(|e| e.to_string())?;
            Ok(url::Url::parse(location)?)
        })
    });
    Login::Callback(cb)
}

async fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context: serde_json::Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or_default();
    let mut builder = OAuthClient::builder("mcp-oauth-conformance-client")
        .login(follow_redirect())
        .metadata_document_url(CIMD_URL);
    let field = |k: &str| context.get(k).and_then(|v| v.as_str());
    if let Some(id) = field("client_id") {
        // Trust on first use: the issuer the MCP server names, pinned here.
        let found = discover(url).await?;
        let issuer = found
            .authorization_servers
            .first()
            .ok_or("the MCP server names no authorization server")?;
        eprintln!("pinning the authorization server {issuer} for the pre-registered client");
        builder = builder.authorization_server(issuer.clone());
        builder = match (field("client_secret"), field("private_key_pem")) {
            (_, Some(pem)) => {
                builder.private_key_jwt(id, pem, field("signing_algorithm").unwrap_or("ES256"))?
            }
            (Some(secret), None) => builder.client_credentials(id, secret),
            (None, None) => builder.client_id(id),
        };
    }
    if scenario.contains("client-credentials") {
        builder = builder.login(Login::ClientCredentials);
    }
    // Enterprise-managed authorization (SEP-990): the suite plays the
    // enterprise IdP and hands over its issuer, the agent's client id there
    // and the person's ID token; the credentials at the MCP server's
    // authorization server are the pre-registered ones above.
    if let (Some(idp), Some(id_token)) = (field("idp_issuer"), field("idp_id_token")) {
        let idp_client = match (field("idp_client_id"), field("idp_client_secret")) {
            (Some(id), Some(secret)) => IdpClient::secret_basic(id, secret),
            (Some(id), None) => IdpClient::public(id),
            (None, _) => return Err("the context names no client id at the IdP".into()),
        };
        builder = builder.login(Login::IdentityAssertion(IdentityAssertion::new(
            idp,
            idp_client,
            FixedIdToken::new(id_token),
        )));
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
