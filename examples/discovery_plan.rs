//! Prints what an MCP client does, step by step, to find the authorization
//! server of an MCP server: which metadata URLs it tries and in what order.
//!
//! ```text
//! cargo run -p mcp-oauth-examples --example discovery_plan -- \
//!     https://mcp.example.com/mcp \
//!     'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp"' \
//!     https://auth.example.com/tenant1
//! ```
//!
//! Arguments: the MCP server URL, optionally the `WWW-Authenticate` header of
//! its 401, optionally the issuer its metadata names.

use std::process::ExitCode;

use mcp_oauth_core::{
    challenge::BearerChallenge,
    discovery::{authorization_server_metadata_urls, protected_resource_metadata_urls},
    resource::ResourceUri,
};

/// Prints the discovery plan of an MCP URL: every metadata URL a client
/// tries, in order.
#[derive(clap::Parser)]
struct Args {
    /// The MCP server's URL.
    mcp_url: String,
    /// The `WWW-Authenticate` header of its 401, if known.
    www_authenticate: Option<String>,
    /// The authorization server's issuer, if known.
    issuer: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = clap::Parser::parse();
    match plan(
        &args.mcp_url,
        args.www_authenticate.as_ref(),
        args.issuer.as_ref(),
    ) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn plan(
    mcp_url: &str,
    header: Option<&String>,
    issuer: Option<&String>,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let resource = ResourceUri::parse(mcp_url)?;
    let mut out = vec![format!("resource (RFC 8707): {resource}")];
    let challenge = header.and_then(|h| BearerChallenge::parse(h));
    match challenge.as_ref().and_then(|c| c.resource_metadata.clone()) {
        Some(url) => out.push(format!(
            "protected resource metadata, from the challenge: {url}"
        )),
        None => {
            for (i, url) in protected_resource_metadata_urls(resource.as_str())?
                .iter()
                .enumerate()
            {
                out.push(format!("protected resource metadata, try {}: {url}", i + 1));
            }
        }
    }
    match challenge.as_ref().and_then(|c| c.scope.clone()) {
        Some(scope) => out.push(format!("scope to request, from the challenge: {scope}")),
        None => out.push("scope to request: scopes_supported of the metadata, else none".into()),
    }
    if let Some(issuer) = issuer {
        for (i, url) in authorization_server_metadata_urls(issuer)?
            .iter()
            .enumerate()
        {
            out.push(format!(
                "authorization server metadata, try {}: {url}",
                i + 1
            ));
        }
        out.push(format!(
            "the metadata's issuer must equal {issuer:?} exactly"
        ));
    }
    Ok(out)
}
