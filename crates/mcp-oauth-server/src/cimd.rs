//! Client ID Metadata Documents: a `client_id` that is an HTTPS URL names a
//! JSON document describing the client. The server fetches it with an SSRF
//! guard (no loopback, private, link-local, metadata-service or other
//! non-public targets unless the operator allows them; the connection goes
//! to the address that was checked, so DNS rebinding cannot swap it), no
//! redirects, a time limit and a size cap, validates it, and caches it as
//! its `Cache-Control` says (bounded).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mcp_oauth_core::registration::{ClientIdMetadataDocument, GrantType};
use parking_lot::Mutex;

use crate::app::now;
use crate::storage::ClientRecord;

/// How Client ID Metadata Documents are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CimdPolicy {
    /// Whether URL client ids are accepted at all.
    pub enabled: bool,
    /// Allow targets on loopback and private networks (tests, labs).
    pub allow_private_addresses: bool,
    /// Allow `http://` document URLs (tests only).
    pub allow_http: bool,
    /// Time limit for one fetch.
    pub timeout: Duration,
    /// Largest document accepted.
    pub max_bytes: usize,
    /// Cache lifetime when the response says nothing.
    pub default_ttl: Duration,
    /// Longest cache lifetime, whatever the response says.
    pub max_ttl: Duration,
}

impl Default for CimdPolicy {
    /// Enabled, public HTTPS targets only, 5 s, 16 KiB, cached 5 minutes by
    /// default and 24 hours at most.
    fn default() -> Self {
        Self {
            enabled: true,
            allow_private_addresses: false,
            allow_http: false,
            timeout: Duration::from_secs(5),
            max_bytes: 16 * 1024,
            default_ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(24 * 3600),
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
    /// The host resolves to an address the guard refuses.
    #[error("client metadata host resolves to a non-public address ({0})")]
    ForbiddenAddress(IpAddr),
    /// Resolution or connection failed, or timed out.
    #[error("could not fetch the client metadata document: {0}")]
    Fetch(String),
    /// A status other than 200 (redirects are not followed).
    #[error("client metadata document answered HTTP {0}")]
    Status(u16),
    /// Larger than the cap.
    #[error("client metadata document exceeds {0} bytes")]
    TooLarge(usize),
    /// Not valid JSON or not a valid document.
    #[error("invalid client metadata document: {0}")]
    Invalid(String),
}

/// Whether an address is one the guard lets the server fetch from.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // CGNAT 100.64/10
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF 192.0.0/24
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x64 && s[1] == 0xff9b)) // NAT64, may reach v4 private space
        }
    }
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
            || (self.policy.allow_http && client_id.starts_with("http://"))
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
        let scheme_ok =
            url.scheme() == "https" || (self.policy.allow_http && url.scheme() == "http");
        if !scheme_ok
            || url.path() == "/"
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(CimdError::BadUrl);
        }
        let host = url.host_str().ok_or(CimdError::BadUrl)?.to_owned();
        let port = url.port_or_known_default().ok_or(CimdError::BadUrl)?;
        let lookup_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addrs: Vec<SocketAddr> = tokio::time::timeout(
            self.policy.timeout,
            tokio::net::lookup_host((lookup_host.as_str(), port)),
        )
        .await
        .map_err(|_| CimdError::Fetch("DNS resolution timed out".into()))?
        .map_err(|e| CimdError::Fetch(e.to_string()))?
        .collect();
        let addr = *addrs
            .first()
            .ok_or_else(|| CimdError::Fetch("host has no address".into()))?;
        if !self.policy.allow_private_addresses
            && let Some(bad) = addrs.iter().map(|a| a.ip()).find(|ip| !is_public(*ip))
        {
            return Err(CimdError::ForbiddenAddress(bad));
        }
        // Pin the connection to the checked address.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.policy.timeout)
            .resolve(&lookup_host, addr)
            .no_proxy()
            .build()
            .map_err(|e| CimdError::Fetch(e.to_string()))?;
        let mut response = client
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| CimdError::Fetch(e.to_string()))?;
        if response.status() != 200 {
            return Err(CimdError::Status(response.status().as_u16()));
        }
        let ttl = self.ttl_of(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| CimdError::Fetch(e.to_string()))?
        {
            if body.len() + chunk.len() > self.policy.max_bytes {
                return Err(CimdError::TooLarge(self.policy.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
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
                .unwrap_or(mcp_oauth_core::registration::ClientAuthMethod::None),
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
            },
            ttl,
        ))
    }

    fn ttl_of(&self, headers: &reqwest::header::HeaderMap) -> u64 {
        let Some(cc) = headers
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
        else {
            return self.policy.default_ttl.as_secs();
        };
        let mut ttl = self.policy.default_ttl.as_secs();
        for directive in cc.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return 0;
            }
            if let Some(v) = lower.strip_prefix("max-age=")
                && let Ok(n) = v.trim_matches('"').parse::<u64>()
            {
                ttl = n;
            }
        }
        ttl.min(self.policy.max_ttl.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_guard() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
