//! Prometheus metrics, served as text at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
