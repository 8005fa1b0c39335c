//! The token cache: verdicts (claims of a verified JWT, or an introspection
//! answer) by the SHA-256 of the token, each kept until its own expiry,
//! within a budget of bytes. Eviction is the cache's (moka: TinyLFU
//! admission, LRU eviction, timer wheel for expiries), so no insert ever
//! walks the whole map.

use std::mem::size_of;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use serde_json::Value;

use crate::claims::{Claims, Rejection};

/// What the cache holds for a token.
pub(crate) type Verdict = Result<Arc<Claims>, Rejection>;

/// Bytes an entry costs beyond its contents: the cache's node, the key's
/// and value's headers, the `Arc`.
const ENTRY_OVERHEAD: usize = 192;

#[derive(Clone)]
struct Entry {
    verdict: Verdict,
    ttl: Duration,
    weight: u32,
}

/// Each entry expires after the time it was inserted with.
struct PerEntry;

impl Expiry<String, Entry> for PerEntry {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Bounded, per-entry-expiring token cache; a budget of 0 turns it off.
pub(crate) struct TokenCache {
    cache: Option<moka::sync::Cache<String, Entry>>,
}

impl TokenCache {
    pub(crate) fn new(max_bytes: u64) -> Self {
        let cache = (max_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_: &String, e: &Entry| e.weight)
                .expire_after(PerEntry)
                .build()
        });
        Self { cache }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Verdict> {
        self.cache.as_ref()?.get(key).map(|e| e.verdict)
    }

    /// Keeps `verdict` for `ttl` (not at all when zero).
    pub(crate) fn insert(&self, key: String, verdict: Verdict, ttl: Duration) {
        let Some(cache) = &self.cache else { return };
        if ttl.is_zero() {
            return;
        }
        let bytes = ENTRY_OVERHEAD + key.len() + verdict_bytes(&verdict);
        let weight = u32::try_from(bytes).unwrap_or(u32::MAX);
        cache.insert(
            key,
            Entry {
                verdict,
                ttl,
                weight,
            },
        );
    }

    /// Entries and their approximate bytes, after the cache has applied
    /// its pending bookkeeping (evictions, expiries).
    pub(crate) fn size(&self) -> (u64, u64) {
        self.cache.as_ref().map_or((0, 0), |c| {
            c.run_pending_tasks();
            (c.entry_count(), c.weighted_size())
        })
    }
}

fn verdict_bytes(verdict: &Verdict) -> usize {
    match verdict {
        Ok(claims) => claims_bytes(claims),
        Err(r) => size_of::<Rejection>() + r.to_string().len(),
    }
}

/// An estimate of the heap a `Claims` holds: its strings and the raw claim
/// tree, with a per-allocation overhead.
fn claims_bytes(c: &Claims) -> usize {
    const STRING: usize = size_of::<String>() + 16;
    size_of::<Claims>()
        + c.subject.len()
        + c.client_id.as_ref().map_or(0, |s| STRING + s.len())
        + c.issuer.as_ref().map_or(0, |s| STRING + s.len())
        + c.scopes.iter().map(|s| STRING + s.len()).sum::<usize>()
        + c.audience.iter().map(|s| STRING + s.len()).sum::<usize>()
        + c.raw
            .iter()
            .map(|(k, v)| 64 + k.len() + value_bytes(v))
            .sum::<usize>()
}

fn value_bytes(v: &Value) -> usize {
    size_of::<Value>()
        + match v {
            Value::String(s) => s.len() + 16,
            Value::Array(a) => a.iter().map(value_bytes).sum::<usize>() + 16,
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| 64 + k.len() + value_bytes(v))
                .sum::<usize>(),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use mcp_oauth_core::scope::ScopeSet;

    use super::*;

    fn claims(sub: &str, padding: usize) -> Arc<Claims> {
        let mut raw = BTreeMap::new();
        raw.insert("pad".to_owned(), Value::String("x".repeat(padding)));
        Arc::new(Claims {
            subject: sub.to_owned(),
            client_id: None,
            scopes: ScopeSet::parse_lossy("mcp"),
            audience: vec!["https://mcp.example.com/mcp".into()],
            issuer: Some("https://auth.example.com".into()),
            expires_at: 0,
            raw,
        })
    }

    #[test]
    fn the_cache_stays_within_its_byte_budget() {
        let budget = 64 * 1024;
        let cache = TokenCache::new(budget);
        for i in 0..2_000 {
            cache.insert(
                format!("token-{i}"),
                Ok(claims("alice", 1_000)),
                Duration::from_secs(60),
            );
        }
        let (entries, bytes) = cache.size();
        assert!(bytes <= budget, "{bytes} bytes over a budget of {budget}");
        assert!(entries > 0 && entries < 2_000, "{entries} entries");
    }

    #[test]
    fn entries_expire_at_their_own_time_and_zero_is_never_kept() {
        let cache = TokenCache::new(1 << 20);
        cache.insert("short".into(), Ok(claims("a", 0)), Duration::from_millis(1));
        cache.insert("long".into(), Ok(claims("b", 0)), Duration::from_secs(600));
        cache.insert("never".into(), Ok(claims("c", 0)), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        assert!(cache.get("short").is_none());
        assert!(cache.get("never").is_none());
        assert_eq!(cache.get("long").unwrap().unwrap().subject, "b");
    }

    #[test]
    fn a_zero_budget_turns_the_cache_off() {
        let cache = TokenCache::new(0);
        cache.insert("t".into(), Ok(claims("a", 0)), Duration::from_secs(60));
        assert!(cache.get("t").is_none());
        assert_eq!(cache.size(), (0, 0));
    }
}
