//! Outbound fetches on behalf of clients (metadata documents, JWK Sets)
//! behind an SSRF guard: no loopback, private, link-local,
//! metadata-service or other non-public targets unless the operator allows
//! them; names are resolved by the guard itself, so the
//! connection goes only to an address that was checked and DNS rebinding
//! cannot swap it; port 443 only; no redirects; a time limit and a size
//! cap. One HTTP client serves every fetch ([`Fetcher`]), and what is
//! fetched is cached with single flight and negative caching
//! ([`cache::FetchCache`]), so strangers cannot turn the server into a
//! reflector.

pub mod cache;
mod resolver;

use std::net::IpAddr;
use std::time::Duration;

/// Limits of outbound fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Allow targets on loopback and private networks (tests, labs).
    pub allow_private_addresses: bool,
    /// Allow `http://` URLs (tests only).
    pub allow_http: bool,
    /// Allow ports other than 443 (tests and labs; otherwise a fetch could
    /// probe arbitrary ports of public hosts).
    pub allow_any_port: bool,
    /// Time limit for one fetch.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: usize,
    /// Cache lifetime when the response says nothing.
    pub default_ttl: Duration,
    /// Shortest cache lifetime, whatever the response says (`no-store`
    /// included): a document a stranger points at costs one fetch per
    /// this much time at most.
    pub min_ttl: Duration,
    /// Longest cache lifetime, whatever the response says.
    pub max_ttl: Duration,
    /// How long a failed fetch is remembered (no fetch is retried sooner).
    pub failure_ttl: Duration,
    /// Bytes of fetched documents kept in memory at most (their parsed
    /// form, estimated).
    pub cache_bytes: u64,
}

impl Default for FetchPolicy {
    /// Public HTTPS targets on port 443 only, 5 s, 16 KiB, cached 5
    /// minutes by default, 1 minute at least and 24 hours at most,
    /// failures remembered 1 minute, 8 MiB of cache.
    fn default() -> Self {
        Self {
            allow_private_addresses: false,
            allow_http: false,
            allow_any_port: false,
            timeout: Duration::from_secs(5),
            max_bytes: 16 * 1024,
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            failure_ttl: Duration::from_secs(60),
            cache_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Why an outbound fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not acceptable (scheme, userinfo, fragment).
    #[error("URL is not an acceptable https URL")]
    BadUrl,
    /// The host resolves to an address the guard refuses.
    #[error("host resolves to a non-public address ({0})")]
    ForbiddenAddress(IpAddr),
    /// Resolution or connection failed, or timed out.
    #[error("could not fetch: {0}")]
    Fetch(String),
    /// A status other than 200 (redirects are not followed).
    #[error("answered HTTP {0}")]
    Status(u16),
    /// Larger than the cap.
    #[error("body exceeds {0} bytes")]
    TooLarge(usize),
}

/// Whether an address is one the guard lets the server fetch from: global
/// unicast only. Besides the private, loopback, link-local and other
/// special-purpose ranges, every IPv6 form that carries or reaches an IPv4
/// address (mapped, compatible, NAT64, 6to4, Teredo) is refused, since the
/// address inside could be a private one.
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
                || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relay anycast
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
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
                || s[..6].iter().all(|&x| x == 0) // IPv4-compatible ::a.b.c.d (::/96)
                || (s[0] == 0x0100 && s[1..4].iter().all(|&x| x == 0)) // discard 100::/64
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments 2001::/23 (Teredo, ORCHID…)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0] == 0x2002 // 6to4 2002::/16, may reach v4 private space
                || (s[0] == 0x64 && s[1] == 0xff9b)) // NAT64, may reach v4 private space
        }
    }
}

/// Whether a URL's scheme is allowed by the policy.
pub fn scheme_allowed(policy: &FetchPolicy, url: &url::Url) -> bool {
    url.scheme() == "https" || (policy.allow_http && url.scheme() == "http")
}

/// The HTTP client of outbound fetches, built once: TLS configuration and
/// connections are reused, and every name it resolves goes through the
/// guard.
#[derive(Debug, Clone)]
pub struct Fetcher {
    policy: FetchPolicy,
    http: reqwest::Client,
}

impl Fetcher {
    /// A fetcher for `policy`.
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .dns_resolver(resolver::GuardedResolver::new(
                policy.allow_private_addresses,
                policy.timeout,
            ))
            .no_proxy()
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|e| FetchError::Fetch(e.to_string()))?;
        Ok(Self { policy, http })
    }

    /// The policy it applies.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// GETs `url` under the guard. Returns the body and how long it may be
    /// cached (from `Cache-Control`, within the policy's bounds).
    pub async fn get(&self, url: &url::Url) -> Result<(Vec<u8>, Duration), FetchError> {
        let policy = &self.policy;
        if !scheme_allowed(policy, url)
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(FetchError::BadUrl);
        }
        let port = url.port_or_known_default().ok_or(FetchError::BadUrl)?;
        if port != 443 && !policy.allow_any_port {
            return Err(FetchError::BadUrl);
        }
        // An address in the URL is not resolved, so the resolver cannot
        // check it: check it here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(FetchError::BadUrl),
        };
        if let Some(ip) = literal
            && !policy.allow_private_addresses
            && !is_public(ip)
        {
            return Err(FetchError::ForbiddenAddress(ip));
        }
        let mut response = self
            .http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| match resolver::forbidden_in(&e) {
                Some(ip) => FetchError::ForbiddenAddress(ip),
                None => FetchError::Fetch(e.to_string()),
            })?;
        if response.status() != 200 {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let ttl = ttl_of(policy, response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Fetch(e.to_string()))?
        {
            if body.len() + chunk.len() > policy.max_bytes {
                return Err(FetchError::TooLarge(policy.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, ttl))
    }
}

/// How long a response may be kept: its `Cache-Control` (`no-store` and
/// `no-cache` as zero), else the default, always within the policy's
/// minimum and maximum.
fn ttl_of(policy: &FetchPolicy, headers: &reqwest::header::HeaderMap) -> Duration {
    let mut ttl = policy.default_ttl;
    if let Some(cc) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    {
        for directive in cc.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                ttl = Duration::ZERO;
                break;
            }
            if let Some(v) = lower.strip_prefix("max-age=")
                && let Ok(n) = v.trim_matches('"').parse::<u64>()
            {
                ttl = Duration::from_secs(n);
            }
        }
    }
    ttl.clamp(policy.min_ttl, policy.max_ttl.max(policy.min_ttl))
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
            "::127.0.0.1",
            "::10.0.0.1",
            "2002:7f00:1::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:10::1",
            "fec0::1",
            "100::1",
            "198.18.0.1",
            "198.19.255.255",
            "192.88.99.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
