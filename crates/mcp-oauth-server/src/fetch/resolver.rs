//! Name resolution for outbound fetches, with the guard inside: a name is
//! resolved here, every address it resolves to must be public (unless the
//! operator allows private ones), and the connection can only go to the
//! addresses returned, so a second, rebound answer is never used.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::is_public;

/// The guard's refusal, carried through reqwest's error chain.
#[derive(Debug)]
struct Forbidden(IpAddr);

impl std::fmt::Display for Forbidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "non-public address {}", self.0)
    }
}

impl std::error::Error for Forbidden {}

/// The address the guard refused, if `e` is that refusal.
pub(super) fn forbidden_in(e: &reqwest::Error) -> Option<IpAddr> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(f) = err.downcast_ref::<Forbidden>() {
            return Some(f.0);
        }
        source = err.source();
    }
    None
}

/// Resolves with the system resolver and refuses non-public answers.
pub(super) struct GuardedResolver {
    allow_private: bool,
    timeout: Duration,
}

impl GuardedResolver {
    pub(super) fn new(allow_private: bool, timeout: Duration) -> Self {
        Self {
            allow_private,
            timeout,
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (allow_private, timeout) = (self.allow_private, self.timeout);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), 0)))
                .await
                .map_err(|_| "DNS resolution timed out")??;
            let addrs: Vec<SocketAddr> = found.collect();
            if addrs.is_empty() {
                return Err("the host has no address".into());
            }
            if !allow_private
                && let Some(bad) = addrs.iter().map(SocketAddr::ip).find(|ip| !is_public(*ip))
            {
                return Err(Box::new(Forbidden(bad)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
