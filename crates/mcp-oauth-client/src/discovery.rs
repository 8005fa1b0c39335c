//! From a 401 to an authorization server: protected resource metadata
//! (from the challenge's `resource_metadata`, else the path form, else the
//! root), the authorization server it names (or the one the agent chose),
//! and that server's metadata in the MCP discovery order, checked against
//! the issuer and for PKCE S256. Servers of the 2025-03-26 revision, which
//! publish no resource metadata, are found at the MCP server's origin.

use mcp_oauth_core::challenge::BearerChallenge;
use mcp_oauth_core::discovery::{
    authorization_server_metadata_urls, legacy_authorization_base_url,
    protected_resource_metadata_urls,
};
use mcp_oauth_core::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use mcp_oauth_core::resource::ResourceUri;

use crate::error::ClientError;

/// What discovery found.
#[derive(Debug, Clone)]
pub(crate) struct Discovered {
    /// The `resource` to send in authorization and token requests.
    pub(crate) resource: String,
    /// The issuer, exactly as its metadata states it.
    pub(crate) issuer: String,
    /// Its metadata.
    pub(crate) metadata: AuthorizationServerMetadata,
    /// The resource's `scopes_supported`, if it published any.
    pub(crate) scopes_supported: Option<Vec<String>>,
}

async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> Option<T> {
    let r = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// Runs discovery for the MCP server at `mcp_url`.
pub(crate) async fn discover(
    http: &reqwest::Client,
    mcp_url: &ResourceUri,
    challenge: Option<&BearerChallenge>,
    issuer_override: Option<&str>,
) -> Result<Discovered, ClientError> {
    let d = |m: String| ClientError::Discovery(m);
    let prm_urls: Vec<String> = match challenge.and_then(|c| c.resource_metadata.clone()) {
        Some(url) => vec![url],
        None => protected_resource_metadata_urls(mcp_url.as_str())
            .map_err(|e| d(e.to_string()))?
            .into_iter()
            .map(String::from)
            .collect(),
    };
    let mut prm: Option<ProtectedResourceMetadata> = None;
    for url in &prm_urls {
        if let Some(doc) = get_json::<ProtectedResourceMetadata>(http, url).await {
            prm = Some(doc);
            break;
        }
    }
    // RFC 9728 §3.3: the metadata must be about the server we talk to.
    let resource = match &prm {
        Some(p) => {
            let declared = ResourceUri::parse(&p.resource).map_err(|e| {
                d(format!(
                    "protected resource metadata names an invalid resource: {e}"
                ))
            })?;
            if !declared.matches(mcp_url.as_str()) && !declared.covers(mcp_url) {
                return Err(d(format!(
                    "protected resource metadata is for {}, not {}",
                    p.resource,
                    mcp_url.as_str()
                )));
            }
            p.resource.clone()
        }
        None => mcp_url.as_str().to_owned(),
    };
    let legacy_origin = || {
        legacy_authorization_base_url(mcp_url.as_str())
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .map_err(|e| d(e.to_string()))
    };
    let issuer =
        match (issuer_override, &prm) {
            (Some(i), _) => i.to_owned(),
            (None, Some(p)) => p.authorization_servers().first().cloned().ok_or_else(|| {
                d("protected resource metadata names no authorization server".into())
            })?,
            (None, None) => legacy_origin()?,
        };
    let legacy = prm.is_none() && issuer_override.is_none();
    let metadata = match fetch_as_metadata(http, &issuer).await {
        Ok(m) => m,
        // 2025-03-26: the document at the origin describes the server
        // whatever issuer it names (that revision had no issuer binding);
        // without one, the default endpoints apply. There is no issuer to
        // mix up yet: the one the document names becomes the expected `iss`.
        Err(_) if legacy => get_json::<AuthorizationServerMetadata>(
            http,
            &format!("{issuer}/.well-known/oauth-authorization-server"),
        )
        .await
        .unwrap_or_else(|| legacy_metadata(&issuer)),
        Err(Some(found)) => {
            return Err(d(format!(
                "the metadata of {issuer} names the issuer {found}; refusing it (mix-up defence)"
            )));
        }
        Err(None) => {
            return Err(d(format!(
                "no authorization server metadata found for {issuer}"
            )));
        }
    };
    let issuer = if legacy {
        metadata.issuer.clone()
    } else {
        issuer
    };
    if !metadata.supports_s256() {
        return Err(ClientError::NoS256(issuer));
    }
    for endpoint in [
        &metadata.authorization_endpoint,
        &metadata.token_endpoint,
        &metadata.registration_endpoint,
    ]
    .into_iter()
    .flatten()
    {
        if !https_or_loopback(endpoint) {
            return Err(d(format!(
                "authorization server endpoint {endpoint} is neither https nor on a loopback host"
            )));
        }
    }
    Ok(Discovered {
        resource,
        issuer,
        metadata,
        scopes_supported: prm.and_then(|p| p.scopes_supported),
    })
}

/// OAuth 2.1 §1.5: endpoints must use TLS; plain http is tolerated only on
/// loopback hosts (development and tests).
fn https_or_loopback(endpoint: &str) -> bool {
    url::Url::parse(endpoint)
        .is_ok_and(|u| u.scheme() == "https" || mcp_oauth_core::redirect::is_loopback(&u))
}

/// RFC 8414 / OIDC metadata of `issuer`, refusing documents that name
/// another issuer.
async fn fetch_as_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AuthorizationServerMetadata, Option<String>> {
    let mut impostor = None;
    for url in authorization_server_metadata_urls(issuer).map_err(|_| None)? {
        if let Some(m) = get_json::<AuthorizationServerMetadata>(http, url.as_str()).await {
            if m.validate_issuer(issuer).is_ok() {
                return Ok(m);
            }
            tracing::warn!(%url, found = %m.issuer, expected = %issuer, "metadata names another issuer; ignored");
            impostor = Some(m.issuer);
        }
    }
    Err(impostor)
}

/// The default endpoints of the 2025-03-26 revision for a server without
/// metadata (PKCE was mandatory there).
fn legacy_metadata(origin: &str) -> AuthorizationServerMetadata {
    AuthorizationServerMetadata {
        issuer: origin.to_owned(),
        authorization_endpoint: Some(format!("{origin}/authorize")),
        token_endpoint: Some(format!("{origin}/token")),
        registration_endpoint: Some(format!("{origin}/register")),
        code_challenge_methods_supported: Some(vec!["S256".into()]),
        ..Default::default()
    }
}
