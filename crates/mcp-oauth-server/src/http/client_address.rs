//! Who is asking: the address per-address limits (login, registration,
//! new metadata documents) count against. Normally the TCP peer; behind
//! reverse proxies the operator lists (`trusted_proxies`), the address
//! they report: the rightmost address, in the one header they write
//! (`X-Forwarded-For`, or `Forwarded` of RFC 7239), that is not itself a
//! trusted proxy. The other header, and both from anyone else, are ignored,
//! so a client cannot choose its own address. An IPv6 client counts as its
//! /64, the block one host is normally given.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;

use crate::app::AuthServer;
use crate::config::ProxyHeader;

/// The client address of `req`, as a string key.
pub(crate) fn of(state: &AuthServer, req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return String::new();
    };
    let config = &state.config;
    key(resolve(
        peer,
        req.headers(),
        &config.trusted_proxies,
        config.proxy_header,
    ))
}

/// The counting key of an address: IPv4 whole, IPv6 by its /64.
fn key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

fn trusted(ip: IpAddr, proxies: &[ipnet::IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// The client behind `peer`, given the forwarding headers and the
/// trusted proxies.
pub(crate) fn resolve(
    peer: IpAddr,
    headers: &HeaderMap,
    proxies: &[ipnet::IpNet],
    header: ProxyHeader,
) -> IpAddr {
    if !trusted(peer, proxies) {
        return peer;
    }
    let hops = forwarded_for(headers, header).unwrap_or_default();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if trusted(*ip, proxies) => client = *ip,
            Some(ip) => return *ip,
            // An obfuscated or unreadable hop: nothing before it can be
            // believed; the last trusted hop is the client.
            None => return client,
        }
    }
    client
}

/// The `for` addresses of the proxies' header, in order (left: the
/// original client); `None` for a hop that is not an address.
fn forwarded_for(headers: &HeaderMap, header: ProxyHeader) -> Option<Vec<Option<IpAddr>>> {
    let joined = |name: &str| {
        let values: Vec<&str> = headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    if header == ProxyHeader::Forwarded {
        let forwarded = joined("forwarded")?;
        return Some(
            forwarded
                .split(',')
                .map(|element| {
                    element
                        .split(';')
                        .find_map(|pair| {
                            let (k, v) = pair.trim().split_once('=')?;
                            k.eq_ignore_ascii_case("for")
                                .then(|| v.trim().trim_matches('"'))
                        })
                        .and_then(parse_node)
                })
                .collect(),
        );
    }
    let xff = joined("x-forwarded-for")?;
    Some(xff.split(',').map(|h| parse_node(h.trim())).collect())
}

/// An address from a `for` node: `192.0.2.1`, `192.0.2.1:443`,
/// `[2001:db8::1]`, `[2001:db8::1]:443`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse()
        .ok()
        .or_else(|| node.rsplit_once(':')?.0.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        use ProxyHeader::{Forwarded, XForwardedFor};
        let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = ip("10.0.0.5");
        let stranger = ip("198.51.100.7");
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 10.0.0.9")]);
        assert_eq!(
            resolve(proxy, &xff, &proxies, XForwardedFor),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(stranger, &xff, &proxies, XForwardedFor),
            stranger,
            "not from a proxy: ignored"
        );
        // A client cannot push a fake address past the first untrusted hop.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(
            resolve(proxy, &h, &proxies, XForwardedFor),
            ip("203.0.113.9")
        );
        let fwd = headers(&[(
            "forwarded",
            "for=\"[2001:db8::1]:443\";proto=https, for=10.0.0.9",
        )]);
        assert_eq!(resolve(proxy, &fwd, &proxies, Forwarded), ip("2001:db8::1"));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(resolve(proxy, &h, &proxies, Forwarded), proxy);
        assert_eq!(
            resolve(proxy, &HeaderMap::new(), &proxies, Forwarded),
            proxy
        );
    }

    /// Review 3: a proxy that writes only `X-Forwarded-For` passes a
    /// client's own `Forwarded` through, which was believed first. Only the
    /// header the operator named is read now.
    #[test]
    fn the_header_the_proxies_do_not_write_is_ignored() {
        let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = ip("10.0.0.5");
        let h = headers(&[
            ("forwarded", "for=198.51.100.77"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            resolve(proxy, &h, &proxies, ProxyHeader::XForwardedFor),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(proxy, &h, &proxies, ProxyHeader::Forwarded),
            ip("198.51.100.77")
        );
        let only_forwarded = headers(&[("forwarded", "for=198.51.100.77")]);
        assert_eq!(
            resolve(proxy, &only_forwarded, &proxies, ProxyHeader::XForwardedFor),
            proxy
        );
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64() {
        assert_eq!(key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(key(ip("2001:db8:1:2:bbbb::9")), "2001:db8:1:2::/64");
        assert_eq!(key(ip("2001:db8:1:3::1")), "2001:db8:1:3::/64");
        assert_eq!(key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(key(ip("192.0.2.7")), "192.0.2.7");
    }
}
