//! Prometheus metrics, served as text at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route pattern, e.g. `/token`.
    pub endpoint: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of the issued-token counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabels {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    pub grant: String,
}

/// Labels of the cache gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `verified_tokens`, `sessions`, `client_documents` or `client_keys`.
    pub cache: String,
}

/// The server's counters.
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Access tokens issued, by grant.
    pub tokens_issued: Family<GrantLabels, Counter>,
    /// Failed logins.
    pub login_failures: Counter,
    /// Clients registered.
    pub registrations: Counter,
    /// Refresh-token reuse detections (family revoked).
    pub refresh_reuse: Counter,
    /// Authorization-code replays (tokens revoked).
    pub code_replays: Counter,
    /// Entries of each in-memory cache.
    pub cache_entries: Family<CacheLabels, Gauge>,
    /// Estimated bytes of each in-memory cache (bounded by its budget).
    pub cache_bytes: Family<CacheLabels, Gauge>,
    /// Outbound fetches made so far for each fetch cache (documents a
    /// client or a stranger named; cached answers do not count).
    pub outbound_fetches: Family<CacheLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mcp_oauth");
        let requests = Family::<RequestLabels, Counter>::default();
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        let login_failures = Counter::default();
        let registrations = Counter::default();
        let refresh_reuse = Counter::default();
        let code_replays = Counter::default();
        let cache_entries = Family::<CacheLabels, Gauge>::default();
        let cache_bytes = Family::<CacheLabels, Gauge>::default();
        let outbound_fetches = Family::<CacheLabels, Gauge>::default();
        registry.register(
            "cache_entries",
            "Entries of each in-memory cache",
            cache_entries.clone(),
        );
        registry.register(
            "cache_bytes",
            "Estimated bytes of each in-memory cache",
            cache_bytes.clone(),
        );
        registry.register(
            "outbound_fetches",
            "Outbound fetches made so far, by cache",
            outbound_fetches.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by endpoint and status",
            requests.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access tokens issued, by grant type",
            tokens_issued.clone(),
        );
        registry.register(
            "login_failures",
            "Failed login attempts",
            login_failures.clone(),
        );
        registry.register("registrations", "Clients registered", registrations.clone());
        registry.register(
            "refresh_token_reuse",
            "Refresh-token reuse detections",
            refresh_reuse.clone(),
        );
        registry.register(
            "code_replays",
            "Authorization-code replays",
            code_replays.clone(),
        );
        Self {
            registry,
            requests,
            tokens_issued,
            login_failures,
            registrations,
            refresh_reuse,
            code_replays,
            cache_entries,
            cache_bytes,
            outbound_fetches,
        }
    }
}

impl Metrics {
    /// Counts one issued access token.
    pub fn issued(&self, grant: &str) {
        self.tokens_issued
            .get_or_create(&GrantLabels {
                grant: grant.to_owned(),
            })
            .inc();
    }

    /// Records one cache's size (and, for fetch caches, its fetches).
    pub fn cache(&self, name: &str, (entries, bytes): (u64, u64), fetches: Option<u64>) {
        let labels = CacheLabels {
            cache: name.to_owned(),
        };
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.cache_entries
            .get_or_create(&labels)
            .set(gauge(entries));
        self.cache_bytes.get_or_create(&labels).set(gauge(bytes));
        if let Some(n) = fetches {
            self.outbound_fetches.get_or_create(&labels).set(gauge(n));
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
