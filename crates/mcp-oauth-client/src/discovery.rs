//! From a 401 to an authorization server: protected resource metadata
//! (from the challenge's `resource_metadata`, else the path form, else the
//! root), the authorization server it names (which must be the trusted one
//! when the agent has one), and that server's metadata in the MCP discovery
//! order, checked against the issuer and for PKCE S256. Servers of the
//! 2025-03-26 revision, which publish no resource metadata, are found at the
//! MCP server's origin. Every URL on the way must be https (or http on
//! loopback), and every document is read through a size cap.

use mcp_oauth_core::challenge::BearerChallenge;
use mcp_oauth_core::discovery::{
    DiscoveryError, authorization_server_metadata_urls, legacy_authorization_base_url,
    protected_resource_metadata_url, protected_resource_metadata_urls,
};
use mcp_oauth_core::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use mcp_oauth_core::resource::ResourceUri;

use crate::error::{ClientError, FetchError};
use crate::fetch::{self, require_secure};
use crate::issuer::same_issuer;

/// What discovery found.
#[derive(Debug, Clone)]
pub(crate) struct Discovered {
    /// The `resource` to send in authorization and token requests: the
    /// MCP server's canonical URI (its metadata, when it has its own, was
    /// checked to name exactly that).
    pub(crate) resource: String,
    /// The issuer, exactly as its metadata states it.
    pub(crate) issuer: String,
    /// Its metadata.
    pub(crate) metadata: AuthorizationServerMetadata,
    /// The resource's `scopes_supported`, if it published any.
    pub(crate) scopes_supported: Option<Vec<String>>,
}

/// How an MCP server says it is protected, as [`discover`] finds it
/// without logging in.
///
/// ```no_run
/// # async fn run() -> Result<(), mcp_oauth_client::ClientError> {
/// let found = mcp_oauth_client::discover("https://mcp.example.com/mcp").await?;
/// if !found.has_resource_metadata {
///     println!("a 2025-03-26 server, authorized by its origin");
/// }
/// for issuer in &found.authorization_servers {
///     println!("{} is protected by {issuer}", found.resource);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerAuthorization {
    /// The `resource` tokens are asked for, exactly as the server's
    /// protected resource metadata publishes it (checked to name this
    /// server, or the origin when it is the origin's root document), else
    /// the MCP server's URL.
    pub resource: String,
    /// The authorization servers it names, in its order. For a server of
    /// the 2025-03-26 revision (no protected resource metadata), its
    /// origin.
    pub authorization_servers: Vec<String>,
    /// Whether the server published protected resource metadata.
    pub has_resource_metadata: bool,
}

/// Finds out which authorization servers the MCP server at `mcp_url`
/// names, without logging in and without sending any credential: one
/// unauthenticated request to read its 401 challenge, then its protected
/// resource metadata, checked as a login would check it.
///
/// Logging in with a password or a pre-registered client needs an issuer
/// the agent trusts
/// ([`OAuthClientBuilder::authorization_server`](crate::OAuthClientBuilder::authorization_server)).
/// A program that has no other way to know it (a conformance harness, a
/// setup wizard that asks the user once) can learn it here and pin it:
/// trust on first use, decided by the caller, never by the library.
///
/// ```no_run
/// use mcp_oauth_client::{Login, OAuthClient, discover};
///
/// # async fn run() -> Result<(), mcp_oauth_client::ClientError> {
/// let url = "https://mcp.example.com/mcp";
/// let found = discover(url).await?;
/// let issuer = found.authorization_servers.first().ok_or_else(|| {
///     mcp_oauth_client::ClientError::Discovery("no authorization server".into())
/// })?;
/// // Show it to the user, or compare it with a configured value, then pin it:
/// let client = OAuthClient::builder("my-agent")
///     .authorization_server(issuer.clone())
///     .client_credentials("my-client", "my-secret")
///     .login(Login::ClientCredentials)
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
pub async fn discover(mcp_url: &str) -> Result<ServerAuthorization, ClientError> {
    let http = fetch::default_http()?;
    let resource = ResourceUri::parse(mcp_url)
        .map_err(|e| ClientError::invalid_url("MCP server URL", mcp_url, e))?;
    require_secure("MCP server URL", resource.as_str())?;
    let challenge = probe(&http, &resource).await;
    let prm = resource_metadata(&http, &resource, challenge.as_ref()).await?;
    Ok(match prm {
        Some(p) => ServerAuthorization {
            authorization_servers: p.authorization_servers().to_vec(),
            resource: p.resource,
            has_resource_metadata: true,
        },
        None => ServerAuthorization {
            authorization_servers: vec![legacy_origin(&resource)?],
            resource: resource.as_str().to_owned(),
            has_resource_metadata: false,
        },
    })
}

/// One unauthenticated request (a JSON-RPC `ping`) to read the server's
/// Bearer challenge; the body is never read.
async fn probe(http: &reqwest::Client, mcp_url: &ResourceUri) -> Option<BearerChallenge> {
    let request = http
        .post(mcp_url.as_str())
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}));
    let response = tokio::time::timeout(fetch::FETCH_TIMEOUT, request.send())
        .await
        .ok()?
        .ok()?;
    if response.status() != reqwest::StatusCode::UNAUTHORIZED {
        return None;
    }
    let header = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)?
        .to_str()
        .ok()?;
    BearerChallenge::parse(header)
}

/// GETs a JSON document: `Ok(None)` when there is none to be had here (an
/// error status, a broken connection, not the expected JSON), an error when
/// the answer is hostile (too large, too slow) or the URL is not secure.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    what: &'static str,
    url: &str,
) -> Result<Option<T>, ClientError> {
    let parsed = require_secure(what, url)?;
    let request = http.get(parsed).header("accept", "application/json");
    match fetch::exchange(request, url).await {
        Ok(reply) if reply.status.is_success() => Ok(reply.json().ok()),
        Ok(_) => Ok(None),
        Err(ClientError::Fetch {
            source: FetchError::Http(e),
            ..
        }) => {
            tracing::debug!(%url, error = %e, "metadata not reachable here");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Where a protected resource metadata document was found, which decides
/// what its `resource` must be (RFC 9728 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    /// Announced by the server's challenge, or at the path form of the MCP
    /// URL: about this MCP server, so `resource` must be its URL.
    OfThisServer,
    /// At the origin's root well-known URL (only tried when the MCP URL has
    /// a path): about the resource the well-known string was inserted into,
    /// the origin, or about this server.
    OfTheOrigin,
}

/// The protected resource metadata of the MCP server, if it publishes any,
/// after checking that it is about this server.
async fn resource_metadata(
    http: &reqwest::Client,
    mcp_url: &ResourceUri,
    challenge: Option<&BearerChallenge>,
) -> Result<Option<ProtectedResourceMetadata>, ClientError> {
    let invalid =
        |e: DiscoveryError| ClientError::invalid_url("MCP server URL", mcp_url.as_str(), e);
    let candidates: Vec<(String, Location)> = match challenge
        .and_then(|c| c.resource_metadata.clone())
    {
        Some(url) => vec![(url, Location::OfThisServer)],
        None => {
            let path_form = protected_resource_metadata_url(mcp_url.as_str()).map_err(invalid)?;
            protected_resource_metadata_urls(mcp_url.as_str())
                .map_err(invalid)?
                .into_iter()
                .map(|u| {
                    let location = if u == path_form {
                        Location::OfThisServer
                    } else {
                        Location::OfTheOrigin
                    };
                    (String::from(u), location)
                })
                .collect()
        }
    };
    for (url, location) in candidates {
        if let Some(doc) =
            get_json::<ProtectedResourceMetadata>(http, "resource metadata URL", &url).await?
        {
            check_resource(&doc.resource, mcp_url, location)?;
            return Ok(Some(doc));
        }
    }
    Ok(None)
}

/// RFC 9728 §3.3: the metadata must be about the server we talk to. A
/// document that this server announces, or serves at its own path, and that
/// claims a wider resource (the origin, a parent path) is refused: a token
/// for that resource would be good at other servers too, and this server
/// could replay it there. The one exception is the origin's root document,
/// which describes the origin by definition and is published by whoever
/// controls the origin, not by a server on one of its paths.
fn check_resource(
    declared: &str,
    mcp_url: &ResourceUri,
    location: Location,
) -> Result<(), ClientError> {
    let parsed = ResourceUri::parse(declared).map_err(|e| {
        ClientError::invalid_url(
            "resource named by the protected resource metadata",
            declared,
            e,
        )
    })?;
    let about_origin = location == Location::OfTheOrigin && is_origin_of(&parsed, mcp_url);
    if parsed.matches(mcp_url.as_str()) || about_origin {
        Ok(())
    } else {
        Err(ClientError::Discovery(format!(
            "protected resource metadata is for the resource {declared}, not {}; refusing it",
            mcp_url.as_str()
        )))
    }
}

/// Whether `resource` is the origin (scheme, host, port, root path) of
/// `mcp_url`.
fn is_origin_of(resource: &ResourceUri, mcp_url: &ResourceUri) -> bool {
    legacy_authorization_base_url(mcp_url.as_str())
        .is_ok_and(|origin| resource.matches(origin.as_str()))
}

/// Whether `resource` is one the client may hold tokens for on behalf of
/// the MCP server at `mcp_url`: its own URI, or its origin's (from the
/// origin's root metadata document).
pub(crate) fn is_own_resource(resource: &str, mcp_url: &ResourceUri) -> bool {
    mcp_url.matches(resource)
        || ResourceUri::parse(resource).is_ok_and(|r| is_origin_of(&r, mcp_url))
}

fn legacy_origin(mcp_url: &ResourceUri) -> Result<String, ClientError> {
    legacy_authorization_base_url(mcp_url.as_str())
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .map_err(|e| ClientError::invalid_url("MCP server URL", mcp_url.as_str(), e))
}

/// Runs discovery for the MCP server at `mcp_url`. With a `trusted`
/// issuer, a server that names only other authorization servers is refused
/// before anything is sent to them. With `pkce` (a login through the
/// authorization endpoint), a server without S256 is refused.
pub(crate) async fn discover_for_login(
    http: &reqwest::Client,
    mcp_url: &ResourceUri,
    challenge: Option<&BearerChallenge>,
    trusted: Option<&str>,
    pkce: bool,
) -> Result<Discovered, ClientError> {
    let d = |m: String| ClientError::Discovery(m);
    let prm = resource_metadata(http, mcp_url, challenge).await?;
    let (issuer, legacy) = match (trusted, &prm) {
        (Some(t), Some(p)) => {
            let named = p.authorization_servers();
            match named.iter().find(|n| same_issuer(n, t)) {
                Some(ours) => (ours.clone(), false),
                None if named.is_empty() => (t.to_owned(), false),
                None => {
                    return Err(ClientError::UntrustedIssuer {
                        issuer: named.join(", "),
                        trusted: t.to_owned(),
                    });
                }
            }
        }
        (Some(t), None) => (t.to_owned(), false),
        (None, Some(p)) => (
            p.authorization_servers().first().cloned().ok_or_else(|| {
                d("protected resource metadata names no authorization server".into())
            })?,
            false,
        ),
        (None, None) => (legacy_origin(mcp_url)?, true),
    };
    require_secure("authorization server issuer", &issuer)?;
    let metadata = match fetch_as_metadata(http, &issuer).await? {
        Ok(m) => m,
        // 2025-03-26: the document at the origin describes the server
        // whatever issuer it names (that revision had no issuer binding);
        // without one, the default endpoints apply. There is no issuer to
        // mix up yet: the one the document names becomes the expected `iss`.
        // No secret can be involved: secrets need a trusted issuer, and
        // with one this path is never taken.
        Err(_) if legacy => get_json::<AuthorizationServerMetadata>(
            http,
            "authorization server metadata URL",
            &format!("{issuer}/.well-known/oauth-authorization-server"),
        )
        .await?
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
    if pkce && !metadata.supports_s256() {
        return Err(ClientError::NoS256(issuer));
    }
    for (what, endpoint) in [
        ("authorization endpoint", &metadata.authorization_endpoint),
        ("token endpoint", &metadata.token_endpoint),
        ("registration endpoint", &metadata.registration_endpoint),
    ] {
        if let Some(endpoint) = endpoint {
            require_secure(what, endpoint)?;
        }
    }
    // The resource identifier exactly as published (RFC 9728 §3.3; the
    // MCP conformance suite checks it byte for byte): the MCP server's own
    // URI, or the origin when only the origin's root document describes it.
    // Either way the tokens are kept for this MCP URL alone (see
    // `SessionKey::tokens_key`), so a neighbour on the same origin logs in for
    // its own.
    let resource = match &prm {
        Some(p) => p.resource.clone(),
        None => mcp_url.as_str().to_owned(),
    };
    Ok(Discovered {
        resource,
        issuer,
        metadata,
        scopes_supported: prm.and_then(|p| p.scopes_supported),
    })
}

/// RFC 8414 / OIDC metadata of `issuer`; the inner error says which other
/// issuer a document named, if one did.
pub(crate) async fn fetch_as_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<Result<AuthorizationServerMetadata, Option<String>>, ClientError> {
    let mut impostor = None;
    let urls = match authorization_server_metadata_urls(issuer) {
        Ok(urls) => urls,
        Err(_) => return Ok(Err(None)),
    };
    for url in urls {
        if let Some(m) = get_json::<AuthorizationServerMetadata>(
            http,
            "authorization server metadata URL",
            url.as_str(),
        )
        .await?
        {
            if m.validate_issuer(issuer).is_ok() {
                return Ok(Ok(m));
            }
            tracing::warn!(%url, found = %m.issuer, expected = %issuer, "metadata names another issuer; ignored");
            impostor = Some(m.issuer);
        }
    }
    Ok(Err(impostor))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> ResourceUri {
        ResourceUri::parse(s).unwrap()
    }

    #[test]
    fn metadata_must_name_this_server() {
        let mcp = uri("https://host.example/u/alice/mcp");
        let ok = |declared: &str, at: Location| check_resource(declared, &mcp, at).is_ok();
        // About this server: accepted wherever it was found, in any
        // spelling RFC 8707 canonicalisation equates.
        for at in [Location::OfThisServer, Location::OfTheOrigin] {
            assert!(ok("https://host.example/u/alice/mcp", at));
            assert!(ok("HTTPS://HOST.example:443/u/alice/mcp", at));
            assert!(ok("https://host.example/u/alice/mcp/", at));
        }
        // A wider resource, announced by this server or at its path: refused
        // (the finding: a token for the origin handed to one path on it).
        for wider in [
            "https://host.example",
            "https://host.example/",
            "https://host.example/u",
            "https://host.example/u/alice",
        ] {
            assert!(!ok(wider, Location::OfThisServer), "{wider}");
        }
        // Another server, a sibling, a longer path, another scheme or port.
        for other in [
            "https://host.example/u/bob/mcp",
            "https://host.example/u/alice/mcp/x",
            "https://host.example/u/alice/mcpx",
            "http://host.example/u/alice/mcp",
            "https://host.example:8443/u/alice/mcp",
            "https://other.example/u/alice/mcp",
            "not a uri",
        ] {
            for at in [Location::OfThisServer, Location::OfTheOrigin] {
                assert!(!ok(other, at), "{other} at {at:?}");
            }
        }
        // The root document describes the origin by definition (RFC 9728
        // §3.3); a parent path is still refused there.
        assert!(ok("https://host.example", Location::OfTheOrigin));
        assert!(!ok("https://host.example/u", Location::OfTheOrigin));
        // Stored tokens are kept for the same two resources only.
        assert!(is_own_resource("https://host.example/u/alice/mcp", &mcp));
        assert!(is_own_resource("https://host.example", &mcp));
        assert!(!is_own_resource("https://host.example/u", &mcp));
        assert!(!is_own_resource("https://host.example/u/bob/mcp", &mcp));
    }

    #[test]
    fn the_legacy_origin_has_no_trailing_slash() {
        assert_eq!(
            legacy_origin(&uri("http://127.0.0.1:8000/mcp")).unwrap(),
            "http://127.0.0.1:8000"
        );
    }
}
