//! Client ID Metadata Documents: a `client_id` that is an HTTPS URL names a
//! JSON document describing the client. The server fetches it through the
//! SSRF guard of [`crate::fetch`], holds it to the same bounds as a dynamic
//! registration (members it does not understand are dropped), and caches
//! the resulting client (or the reason it is refused) as its
//! `Cache-Control` says, within the policy's bounds and byte budget. Each
//! URL is fetched at most once at a time, however many requests name it.

use mcp_oauth_core::registration::{ClientAuthMethod, ClientIdMetadataDocument, GrantType};

use crate::fetch::cache::FetchCache;
use crate::fetch::{FetchError, FetchPolicy, Fetcher, scheme_allowed};
use crate::storage::ClientRecord;

/// How Client ID Metadata Documents are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CimdPolicy {
    /// Whether URL client ids are accepted at all.
    pub enabled: bool,
    /// The guard and limits of the fetch.
    pub fetch: FetchPolicy,
    /// New (not yet cached) documents one client address may make the
    /// server fetch per minute.
    pub fetches_per_minute: u32,
    /// The hosts documents may come from: each entry an exact host
    /// (`app.example.com`) or a suffix pattern (`*.example.com`: any
    /// subdomain of `example.com`, not `example.com` itself). Empty: any
    /// host. Checked before anything is fetched
    /// ([`CimdPolicy::host_allowed`]).
    pub allowed_hosts: Vec<String>,
}

impl CimdPolicy {
    /// Whether a document may be fetched from `host` (compared without
    /// regard to case and a trailing dot); see
    /// [`CimdPolicy::allowed_hosts`].
    ///
    /// ```
    /// use mcp_oauth_server::cimd::CimdPolicy;
    ///
    /// let mut policy = CimdPolicy::default();
    /// assert!(policy.host_allowed("anything.example"));
    /// policy.allowed_hosts = vec!["app.example.com".into(), "*.tools.example".into()];
    /// assert!(policy.host_allowed("App.Example.com"));
    /// assert!(policy.host_allowed("a.b.tools.example"));
    /// assert!(!policy.host_allowed("tools.example"));
    /// assert!(!policy.host_allowed("eviltools.example"));
    /// assert!(!policy.host_allowed("app.example.com.evil.example"));
    /// ```
    pub fn host_allowed(&self, host: &str) -> bool {
        if self.allowed_hosts.is_empty() {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.iter().any(|entry| {
            let entry = entry.trim_end_matches('.').to_ascii_lowercase();
            match entry.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => host == entry,
            }
        })
    }
}

impl Default for CimdPolicy {
    /// Enabled, with [`FetchPolicy::default`], 30 new documents per
    /// address and minute.
    fn default() -> Self {
        Self {
            enabled: true,
            fetch: FetchPolicy::default(),
            fetches_per_minute: 30,
            allowed_hosts: Vec::new(),
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
    /// The document's host is not one the operator allows
    /// ([`CimdPolicy::allowed_hosts`]); nothing was fetched.
    #[error("client metadata documents from {0} are not accepted by this server")]
    HostNotAllowed(String),
    /// The fetch failed or was refused by the guard.
    #[error("client metadata document: {0}")]
    Fetch(#[from] FetchError),
    /// Not valid JSON or not a valid document.
    #[error("invalid client metadata document: {0}")]
    Invalid(String),
}

/// Fetches and caches metadata documents.
#[derive(Debug)]
pub struct CimdResolver {
    policy: CimdPolicy,
    documents: FetchCache<ClientRecord, CimdError>,
}

impl CimdResolver {
    /// A resolver with this policy.
    pub fn new(policy: CimdPolicy) -> Result<Self, FetchError> {
        let documents = FetchCache::new(Fetcher::new(policy.fetch.clone())?);
        Ok(Self { policy, documents })
    }

    /// Whether this `client_id` is a metadata document URL (and so goes
    /// through [`CimdResolver::resolve`] rather than storage).
    pub fn is_document_url(&self, client_id: &str) -> bool {
        client_id.starts_with("https://")
            || (self.policy.fetch.allow_http && client_id.starts_with("http://"))
    }

    /// Refuses a document URL whose host the policy does not allow
    /// ([`CimdPolicy::allowed_hosts`]), before anything is fetched.
    pub fn check_host(&self, raw: &str) -> Result<(), CimdError> {
        let url = url::Url::parse(raw).map_err(|_| CimdError::BadUrl)?;
        let host = url.host_str().ok_or(CimdError::BadUrl)?;
        if self.policy.host_allowed(host) {
            Ok(())
        } else {
            Err(CimdError::HostNotAllowed(host.to_owned()))
        }
    }

    /// Its policy.
    pub fn policy(&self) -> &CimdPolicy {
        &self.policy
    }

    /// The fetcher (also used for clients' `jwks_uri`).
    pub fn fetcher(&self) -> &Fetcher {
        self.documents.fetcher()
    }

    /// Whether the document at `url` is cached (or a fetch of it is under
    /// way), so that naming it costs no new fetch.
    pub fn is_cached(&self, url: &str) -> bool {
        self.documents.contains(url)
    }

    /// Documents fetched so far (a cached answer, or one shared with a
    /// concurrent request, does not count).
    pub fn fetches(&self) -> u64 {
        self.documents.fetches()
    }

    /// Documents (and refusals) cached, and their estimated bytes.
    pub async fn cached(&self) -> (u64, u64) {
        self.documents.size().await
    }

    /// The client a document URL describes; a document fetched now is
    /// recorded as issued at `now` (seconds since the Unix epoch).
    pub async fn resolve(&self, raw: &str, now: u64) -> Result<ClientRecord, CimdError> {
        if !self.policy.enabled {
            return Err(CimdError::Disabled);
        }
        let url = url::Url::parse(raw).map_err(|_| CimdError::BadUrl)?;
        // Only the canonical spelling is accepted: the cache is keyed by it,
        // and the document must name exactly the `client_id` it is fetched
        // for, so a variant (`HOST`, `:443`, `/./`) would fetch the real
        // document, fail that check and cache the failure for the real
        // client.
        if url.as_str() != raw || !scheme_allowed(&self.policy.fetch, &url) || url.path() == "/" {
            return Err(CimdError::BadUrl);
        }
        self.check_host(raw)?;
        let allow_http = self.policy.fetch.allow_http;
        self.documents
            .get(&url, |body| document(raw, &body, allow_http, now))
            .await
    }
}

/// Parses and checks a fetched document; the client and its estimated
/// size in memory.
fn document(
    raw: &str,
    body: &[u8],
    allow_http: bool,
    now: u64,
) -> Result<(ClientRecord, usize), CimdError> {
    let doc: ClientIdMetadataDocument =
        serde_json::from_slice(body).map_err(|e| CimdError::Invalid(e.to_string()))?;
    if doc.client_id != raw {
        return Err(CimdError::Invalid(format!(
            "client_id {:?} does not equal the document URL",
            doc.client_id
        )));
    }
    // The core check wants https; with http allowed (tests), check the
    // rest against an https twin of the URL.
    let check_url = if allow_http && raw.starts_with("http://") {
        raw.replacen("http://", "https://", 1)
    } else {
        raw.to_owned()
    };
    let mut checked = doc.clone();
    checked.client_id = check_url.clone();
    checked
        .validate(&check_url)
        .map_err(|e| CimdError::Invalid(e.to_string()))?;
    doc.metadata
        .check_limits()
        .map_err(|e| CimdError::Invalid(e.error_description.unwrap_or_default()))?;
    let mut metadata = doc.metadata.without_unknown_members();
    metadata.token_endpoint_auth_method = Some(
        metadata
            .token_endpoint_auth_method
            .unwrap_or(ClientAuthMethod::None),
    );
    metadata
        .grant_types
        .get_or_insert_with(|| vec![GrantType::AuthorizationCode]);
    let size = serde_json::to_string(&metadata).map_or(body.len(), |s| 2 * s.len());
    Ok((
        ClientRecord {
            client_id: raw.to_owned(),
            secret_hash: None,
            metadata,
            issued_at: now,
            policy: Default::default(),
            registration_token_hash: None,
            last_used_at: None,
        },
        size,
    ))
}
