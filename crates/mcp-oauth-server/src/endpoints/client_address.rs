//! Who is asking: the address per-address limits (login, registration,
//! new metadata documents) count against. Normally the TCP peer; behind
//! reverse proxies the operator lists (`trusted_proxies`), the address
//! they report: the rightmost address of `Forwarded` (RFC 7239) or
//! `X-Forwarded-For` that is not itself a trusted proxy. From anyone else
//! those headers are ignored, so a client cannot choose its own address.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;

use crate::app::AppState;

/// The client address of `req`, as a string key.
pub(crate) fn of(state: &AppState, req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return String::new();
    };
    resolve(peer, req.headers(), &state.config.trusted_proxies).to_string()
}

fn trusted(ip: IpAddr, proxies: &[ipnet::IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// The client behind `peer`, given the forwarding headers and the
/// trusted proxies.
pub(crate) fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &[ipnet::IpNet]) -> IpAddr {
    if !trusted(peer, proxies) {
        return peer;
    }
    let hops = forwarded_for(headers).unwrap_or_default();
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

/// The `for` addresses of `Forwarded`, else `X-Forwarded-For`, in order
/// (left: the original client); `None` for a hop that is not an address.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let joined = |name: &str| {
        let values: Vec<&str> = headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    if let Some(forwarded) = joined("forwarded") {
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

    #[test]
    fn only_trusted_proxies_are_believed() {
        let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 10.0.0.9")]);
        assert_eq!(
            resolve(proxy, &h, &proxies),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            resolve(stranger, &h, &proxies),
            stranger,
            "not from a proxy: ignored"
        );
        // A client cannot push a fake address past the first untrusted hop.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(
            resolve(proxy, &h, &proxies),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let h = headers(&[(
            "forwarded",
            "for=\"[2001:db8::1]:443\";proto=https, for=10.0.0.9",
        )]);
        assert_eq!(
            resolve(proxy, &h, &proxies),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(resolve(proxy, &h, &proxies), proxy);
        assert_eq!(resolve(proxy, &HeaderMap::new(), &proxies), proxy);
    }
}
