//! Authorization server metadata, fetched in the MCP discovery order and
//! checked against the issuer it was fetched for (RFC 8414 §3.3).

use mcp_oauth_core::discovery::authorization_server_metadata_urls;
use mcp_oauth_core::metadata::AuthorizationServerMetadata;

use crate::claims::Rejection;

/// Fetches the metadata of `issuer`, trying the well-known URLs in order.
pub(crate) async fn fetch_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AuthorizationServerMetadata, Rejection> {
    let urls = authorization_server_metadata_urls(issuer)
        .map_err(|e| Rejection::Unavailable(format!("issuer {issuer}: {e}")))?;
    let mut last = String::from("no metadata URL answered");
    for url in urls {
        match http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => match r.json::<AuthorizationServerMetadata>().await
            {
                Ok(m) if m.validate_issuer(issuer).is_ok() => return Ok(m),
                Ok(m) => last = format!("{url} names issuer {:?}", m.issuer),
                Err(e) => last = format!("{url}: {e}"),
            },
            Ok(r) => last = format!("{url}: HTTP {}", r.status()),
            Err(e) => last = format!("{url}: {e}"),
        }
    }
    tracing::warn!(%issuer, reason = %last, "authorization server metadata unavailable");
    Err(Rejection::Unavailable(last))
}
