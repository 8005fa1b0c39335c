//! Client ID Metadata Documents: a `client_id` that is an HTTPS URL names a
//! JSON document describing the client. The server fetches it through the
//! SSRF guard of [`crate::fetch`], validates it, and caches it as its
//! `Cache-Control` says (bounded).

use std::collections::HashMap;

use mcp_oauth_core::registration::{ClientAuthMethod, ClientIdMetadataDocument, GrantType};
use parking_lot::Mutex;

use crate::app::now;
use crate::fetch::{FetchError, FetchPolicy, guarded_get, scheme_allowed};
use crate::storage::ClientRecord;

/// How Client ID Metadata Documents are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CimdPolicy {
    /// Whether URL client ids are accepted at all.
    pub enabled: bool,
    /// The guard and limits of the fetch.
    pub fetch: FetchPolicy,
}

impl Default for CimdPolicy {
    /// Enabled, with [`FetchPolicy::default`].
    fn default() -> Self {
        Self {
            enabled: true,
            fetch: FetchPolicy::default(),
        }
    }
}

/// Why a metadata document could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CimdError {
    /// URL client ids are disabled on this server.
    #[error("client metadata documents are not accepted by this server")]
    Disabled,
    /// The URL is not an acceptable document URL.
    #[error("client_id is not a valid metadata document URL")]
    BadUrl,
    /// The fetch failed or was refused by the guard.
    #[error("client metadata document: {0}")]
    Fetch(#[from] FetchError),
    /// Not valid JSON or not a valid document.
    #[error("invalid client metadata document: {0}")]
    Invalid(String),
}

/// Fetches and caches metadata documents.
#[derive(Debug, Default)]
pub struct CimdResolver {
    policy: CimdPolicy,
    cache: Mutex<HashMap<String, (ClientRecord, u64)>>,
}

/// Most documents cached at once.
const MAX_CACHED: usize = 10_000;

impl CimdResolver {
    /// A resolver with this policy.
    pub fn new(policy: CimdPolicy) -> Self {
        Self {
            policy,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this `client_id` is a metadata document URL (and so goes
    /// through [`CimdResolver::resolve`] rather than storage).
    pub fn is_document_url(&self, client_id: &str) -> bool {
        client_id.starts_with("https://")
            || (self.policy.fetch.allow_http && client_id.starts_with("http://"))
    }

    /// The client a document URL describes.
    pub async fn resolve(&self, url: &str) -> Result<ClientRecord, CimdError> {
        if !self.policy.enabled {
            return Err(CimdError::Disabled);
        }
        let t = now();
        if let Some((record, until)) = self.cache.lock().get(url)
            && *until > t
        {
            return Ok(record.clone());
        }
        let (record, ttl) = self.fetch(url).await?;
        if ttl > 0 {
            let mut cache = self.cache.lock();
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, (_, until)| *until > t);
            }
            if cache.len() < MAX_CACHED {
                cache.insert(url.to_owned(), (record.clone(), t + ttl));
            }
        }
        Ok(record)
    }

    async fn fetch(&self, raw: &str) -> Result<(ClientRecord, u64), CimdError> {
        let url = url::Url::parse(raw).map_err(|_| CimdError::BadUrl)?;
        if !scheme_allowed(&self.policy.fetch, &url) || url.path() == "/" {
            return Err(CimdError::BadUrl);
        }
        let (body, ttl) = guarded_get(&self.policy.fetch, &url).await?;
        let doc: ClientIdMetadataDocument =
            serde_json::from_slice(&body).map_err(|e| CimdError::Invalid(e.to_string()))?;
        if doc.client_id != raw {
            return Err(CimdError::Invalid(format!(
                "client_id {:?} does not equal the document URL",
                doc.client_id
            )));
        }
        // The core check wants https; with http allowed (tests), check the
        // rest against an https twin of the URL.
        let check_url = if url.scheme() == "http" {
            raw.replacen("http://", "https://", 1)
        } else {
            raw.to_owned()
        };
        let mut checked = doc.clone();
        checked.client_id = check_url.clone();
        checked
            .validate(&check_url)
            .map_err(|e| CimdError::Invalid(e.to_string()))?;
        let mut metadata = doc.metadata;
        metadata.token_endpoint_auth_method = Some(
            metadata
                .token_endpoint_auth_method
                .unwrap_or(ClientAuthMethod::None),
        );
        metadata
            .grant_types
            .get_or_insert_with(|| vec![GrantType::AuthorizationCode]);
        Ok((
            ClientRecord {
                client_id: raw.to_owned(),
                secret_hash: None,
                metadata,
                issued_at: now(),
                policy: Default::default(),
            },
            ttl,
        ))
    }
}
