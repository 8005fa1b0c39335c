//! Authorization server metadata, fetched in the MCP discovery order and
//! checked against the issuer it was fetched for (RFC 8414 §3.3). Each
//! trusted issuer has a [`Discovery`]: the metadata is fetched once and
//! kept; while it cannot be had, attempts are single-flight and spaced, so
//! a flood of requests does not become a flood of fetches.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mcp_oauth_core::discovery::authorization_server_metadata_urls;
use mcp_oauth_core::jose::{KeyState, RefetchGate};
use mcp_oauth_core::metadata::AuthorizationServerMetadata;

use crate::claims::Rejection;
use crate::fetch::json_body;
use crate::stats::Counters;
use crate::unavailable::Unavailable;

/// Fetches the metadata of `issuer`, trying the well-known URLs in order.
async fn fetch_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AuthorizationServerMetadata, Rejection> {
    let urls = authorization_server_metadata_urls(issuer).map_err(|e| {
        Rejection::Unavailable(Unavailable::caused_by(format!("issuer {issuer}"), e))
    })?;
    let mut last = String::from("no metadata URL answered");
    for url in urls {
        match http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {
                match json_body::<AuthorizationServerMetadata>(r).await {
                    Ok(m) if m.validate_issuer(issuer).is_ok() => return Ok(m),
                    Ok(m) => last = format!("{url} names issuer {:?}", m.issuer),
                    Err(e) => last = format!("{url}: {e}"),
                }
            }
            Ok(r) => last = format!("{url}: HTTP {}", r.status()),
            Err(e) => last = format!("{url}: {e}"),
        }
    }
    tracing::warn!(%issuer, reason = %last, "authorization server metadata unavailable");
    Err(Rejection::Unavailable(Unavailable::new(last)))
}

/// The endpoints the verifier uses from an issuer's metadata.
#[derive(Debug)]
pub(crate) struct Endpoints {
    pub(crate) jwks_uri: Option<String>,
    pub(crate) introspection_endpoint: Option<String>,
    pub(crate) token_endpoint: Option<String>,
}

/// When the last failed attempt was, and why it failed.
struct Attempts {
    /// Records failed attempts only: a success ends the attempts.
    gate: RefetchGate,
    last_failure: Option<Rejection>,
}

/// One issuer's metadata, fetched on first need.
pub(crate) struct Discovery {
    issuer: String,
    found: Arc<OnceLock<Arc<Endpoints>>>,
    attempts: Arc<tokio::sync::Mutex<Attempts>>,
}

impl Discovery {
    /// Discovery for `issuer`; after a failure, the next attempt waits
    /// `retry_after`.
    pub(crate) fn new(issuer: String, retry_after: Duration) -> Self {
        Self {
            issuer,
            found: Arc::default(),
            attempts: Arc::new(tokio::sync::Mutex::new(Attempts {
                gate: RefetchGate::new(retry_after),
                last_failure: None,
            })),
        }
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The issuer's endpoints: known, or fetched now by one caller while
    /// the others wait for its outcome. The fetch runs in its own task, so
    /// a caller that goes away does not cancel it.
    pub(crate) async fn endpoints(
        &self,
        http: &reqwest::Client,
        counters: &Arc<Counters>,
    ) -> Result<Arc<Endpoints>, Rejection> {
        if let Some(found) = self.found.get() {
            return Ok(found.clone());
        }
        let mut attempts = self.attempts.clone().lock_owned().await;
        if let Some(found) = self.found.get() {
            return Ok(found.clone());
        }
        if let Some(why) = &attempts.last_failure
            && !attempts.gate.allows(Instant::now(), KeyState::Missing)
        {
            return Err(why.clone());
        }
        let (http, issuer, counters) = (http.clone(), self.issuer.clone(), counters.clone());
        let found = self.found.clone();
        tokio::spawn(async move {
            counters.metadata_fetch();
            match fetch_metadata(&http, &issuer).await {
                Ok(m) => {
                    attempts.last_failure = None;
                    let endpoints = Arc::new(Endpoints {
                        jwks_uri: m.jwks_uri,
                        introspection_endpoint: m.introspection_endpoint,
                        token_endpoint: m.token_endpoint,
                    });
                    Ok(found.get_or_init(|| endpoints).clone())
                }
                Err(e) => {
                    attempts.gate.record(Instant::now());
                    attempts.last_failure = Some(e.clone());
                    Err(e)
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(Rejection::Unavailable(Unavailable::new(
                "metadata fetch failed",
            )))
        })
    }
}
