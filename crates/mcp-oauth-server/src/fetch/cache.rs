//! What outbound fetches bring back, kept: parsed documents (or the reason
//! they could not be used) by URL, each for its own lifetime, within a
//! budget of bytes. Concurrent requests for one URL share one fetch, and a
//! failure is remembered too, so however many requests name a URL, the
//! server fetches it at most once per `min_ttl` (or `failure_ttl`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;

use super::{FetchError, Fetcher};

/// Bytes an entry costs beyond what the parser reports: the cache's node,
/// the key, the error or value headers.
const ENTRY_OVERHEAD: usize = 256;

#[derive(Clone)]
struct Entry<T, E> {
    outcome: Result<T, E>,
    ttl: Duration,
    weight: u32,
}

struct PerEntry;

impl<T, E> Expiry<String, Entry<T, E>> for PerEntry {
    fn expire_after_create(&self, _: &String, e: &Entry<T, E>, _: Instant) -> Option<Duration> {
        Some(e.ttl)
    }
}

/// Fetched and parsed documents by URL; see the [module
/// documentation](self).
pub struct FetchCache<T, E> {
    fetcher: Fetcher,
    cache: moka::future::Cache<String, Entry<T, E>>,
    fetches: AtomicU64,
}

impl<T, E> std::fmt::Debug for FetchCache<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchCache")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish_non_exhaustive()
    }
}

impl<T, E> FetchCache<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + From<FetchError> + 'static,
{
    /// A cache of what `fetcher` brings, within its policy's byte budget.
    pub fn new(fetcher: Fetcher) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(fetcher.policy().cache_bytes)
            .weigher(|_: &String, e: &Entry<T, E>| e.weight)
            .expire_after(PerEntry)
            .build();
        Self {
            fetcher,
            cache,
            fetches: AtomicU64::new(0),
        }
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The document at `url`, parsed by `parse` (which also says how many
    /// bytes the parsed value holds): from the cache, from a fetch already
    /// under way for another request, or fetched now.
    pub async fn get<F>(&self, url: &url::Url, parse: F) -> Result<T, E>
    where
        F: FnOnce(Vec<u8>) -> Result<(T, usize), E>,
    {
        let key = url.as_str().to_owned();
        let overhead = ENTRY_OVERHEAD + key.len();
        let weigh = |bytes: usize| u32::try_from(overhead + bytes).unwrap_or(u32::MAX);
        let policy = self.fetcher.policy();
        let entry = self
            .cache
            .get_with(key, async {
                self.fetches.fetch_add(1, Ordering::Relaxed);
                let failed = |e: E| Entry {
                    outcome: Err(e),
                    ttl: policy.failure_ttl,
                    weight: weigh(128),
                };
                match self.fetcher.get(url).await {
                    Ok((body, ttl)) => match parse(body) {
                        Ok((value, bytes)) => Entry {
                            outcome: Ok(value),
                            ttl,
                            weight: weigh(bytes),
                        },
                        Err(e) => failed(e),
                    },
                    Err(e) => failed(E::from(e)),
                }
            })
            .await;
        entry.outcome
    }

    /// Whether an answer for `url` is cached.
    pub fn contains(&self, url: &str) -> bool {
        self.cache.contains_key(url)
    }

    /// Fetches made so far (not answered from the cache).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Entries and their estimated bytes.
    pub async fn size(&self) -> (u64, u64) {
        self.cache.run_pending_tasks().await;
        (self.cache.entry_count(), self.cache.weighted_size())
    }
}
