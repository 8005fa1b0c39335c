//! Outbound fetches on behalf of clients (metadata documents, JWK Sets)
//! behind an SSRF guard: no loopback, private, link-local,
//! metadata-service or other non-public targets unless the operator allows
//! them; the connection goes to the address that was checked, so DNS
//! rebinding cannot swap it; no redirects; a time limit and a size cap.

use std::net::{IpAddr, SocketAddr};
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
    /// Longest cache lifetime, whatever the response says.
    pub max_ttl: Duration,
}

impl Default for FetchPolicy {
    /// Public HTTPS targets on port 443 only, 5 s, 16 KiB, cached 5
    /// minutes by default and 24 hours at most.
    fn default() -> Self {
        Self {
            allow_private_addresses: false,
            allow_http: false,
            allow_any_port: false,
            timeout: Duration::from_secs(5),
            max_bytes: 16 * 1024,
            default_ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(24 * 3600),
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

/// GETs `url` under the guard. Returns the body and how long it may be
/// cached (from `Cache-Control`, within the policy's bounds; 0 for
/// `no-store`/`no-cache`).
pub async fn guarded_get(
    policy: &FetchPolicy,
    url: &url::Url,
) -> Result<(Vec<u8>, u64), FetchError> {
    if !scheme_allowed(policy, url)
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(FetchError::BadUrl);
    }
    let host = url.host_str().ok_or(FetchError::BadUrl)?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().ok_or(FetchError::BadUrl)?;
    if port != 443 && !policy.allow_any_port {
        return Err(FetchError::BadUrl);
    }
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        policy.timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| FetchError::Fetch("DNS resolution timed out".into()))?
    .map_err(|e| FetchError::Fetch(e.to_string()))?
    .collect();
    let addr = *addrs
        .first()
        .ok_or_else(|| FetchError::Fetch("host has no address".into()))?;
    if !policy.allow_private_addresses
        && let Some(bad) = addrs.iter().map(|a| a.ip()).find(|ip| !is_public(*ip))
    {
        return Err(FetchError::ForbiddenAddress(bad));
    }
    // Pin the connection to the checked address.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(policy.timeout)
        .resolve(&host, addr)
        .no_proxy()
        .build()
        .map_err(|e| FetchError::Fetch(e.to_string()))?;
    let mut response = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| FetchError::Fetch(e.to_string()))?;
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

fn ttl_of(policy: &FetchPolicy, headers: &reqwest::header::HeaderMap) -> u64 {
    let Some(cc) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return policy.default_ttl.as_secs();
    };
    let mut ttl = policy.default_ttl.as_secs();
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
    ttl.min(policy.max_ttl.as_secs())
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
