//! Server configuration.

use std::time::Duration;

use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::Password;

/// Who may call `POST /register`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationPolicy {
    /// Anyone (what MCP clients expect of dynamic registration).
    Open,
    /// Only callers presenting this initial access token (RFC 7591 §3).
    InitialAccessToken(String),
    /// Nobody: clients are pre-registered by the operator.
    Closed,
}

/// Where audit events are copied as JSON lines (one object a line, the
/// same fields as storage keeps), besides the `audit_events` table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditLog {
    /// Standard output.
    Stdout,
    /// Standard error (where the admin subcommands write what the
    /// configuration sends to standard output, which carries their own
    /// answers).
    Stderr,
    /// Appended to this file (created private to its owner, 0600).
    File(std::path::PathBuf),
}

/// How long the server waits for clients, and how many it serves at once.
/// A client that sends its request too slowly is cut off, so a few
/// thousand dripping sockets cannot hold the server's file descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Time for a request's head (line and headers) to arrive.
    pub head_timeout: Duration,
    /// Time for a request's body to arrive, once the head has.
    pub body_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// Connections served at once, in all (`None`: derived from the
    /// process's file-descriptor limit, leaving room for storage and
    /// outbound connections).
    pub max_connections: Option<usize>,
}

impl Default for ConnectionLimits {
    /// 5 s for the head, 10 s for the body, 15 s keep-alive, connections
    /// from the descriptor limit.
    fn default() -> Self {
        Self {
            head_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(15),
            max_connections: None,
        }
    }
}

/// Everything the authorization server needs to know; build with
/// [`ServerConfig::new`] and the setters.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The issuer identifier, emitted exactly as given.
    pub issuer: Issuer,
    /// The signing keys: algorithm, rotation, publication ahead of use,
    /// encryption at rest.
    pub keys: crate::keys::KeyPolicy,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime (each rotation starts a new one, within
    /// [`ServerConfig::grant_max_lifetime`]).
    pub refresh_token_ttl: Duration,
    /// Longest a grant lives, counted from the user's authentication:
    /// refreshes never extend a grant past it (the user signs in again).
    pub grant_max_lifetime: Duration,
    /// Authorization-code lifetime.
    pub code_ttl: Duration,
    /// The device authorization grant (RFC 8628): on by default; off, the
    /// endpoint, page and grant are not served or advertised.
    pub device_flow: bool,
    /// OpenID Connect: on by default; then the scopes [`OIDC_SCOPES`] are
    /// accepted (and advertised) beside `scopes_supported`, the
    /// authorization code grant issues an ID token when `openid` was
    /// granted, `/userinfo` is served and the discovery documents carry
    /// the OpenID Connect Discovery fields. Off, `openid` is refused like
    /// any unknown scope.
    pub oidc: bool,
    /// How long a device authorization waits for the person.
    pub device_code_ttl: Duration,
    /// The polling interval asked of devices (each `slow_down` adds 5 s).
    pub device_poll_interval: Duration,
    /// How long a rotated refresh token may still be used, for two
    /// concurrent refreshes by the same client.
    pub refresh_grace: Duration,
    /// Scopes advertised in the metadata.
    pub scopes_supported: Vec<String>,
    /// Scope granted when a request names none.
    pub default_scope: ScopeSet,
    /// Resources tokens may be issued for; `None` allows any.
    pub allowed_resources: Option<Vec<ResourceUri>>,
    /// Registration policy.
    pub registration: RegistrationPolicy,
    /// Most clients that may be registered. At the limit, the oldest
    /// registration nobody has used (no person consented to it) for ten
    /// minutes (or [`ServerConfig::unused_client_ttl`], if shorter) makes
    /// room for a new one.
    pub max_clients: usize,
    /// How long a registered client no person has consented to is kept
    /// (the hourly purge deletes it after that).
    pub unused_client_ttl: Duration,
    /// Days a client of dynamic registration may go without a token
    /// issued to it before the maintenance task deletes it, with its
    /// grants (default 90; 0 keeps them for good). The operator's clients
    /// are never deleted. An agent whose registration went is answered
    /// `invalid_client` and registers again.
    pub dcr_idle_days: u64,
    /// Registrations one client address may make per hour.
    pub registrations_per_hour: u32,
    /// The superuser created or updated at start.
    pub superuser: Option<(String, Password)>,
    /// Failed-login limits.
    pub login_limits: crate::ratelimit::ThrottleLimits,
    /// How long a login session (cookie) lets a returning user skip the
    /// password.
    pub session_ttl: Duration,
    /// How long audit events are kept (the maintenance task deletes older
    /// ones); default 90 days.
    pub audit_retention: Duration,
    /// Where audit events are also written as JSON lines, for log
    /// shippers; `None` (the default): storage only.
    pub audit_log: Option<AuditLog>,
    /// Clients the operator created in the configuration (trusted; looked
    /// up before storage). Resource servers that introspect are among
    /// them ([`crate::OperatorClient::resource_server`]).
    pub clients: Vec<crate::operator::OperatorClient>,
    /// Connection deadlines and caps.
    pub limits: ConnectionLimits,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` are believed
    /// when they connect: the per-address limits then count the client
    /// they report, and the audit trail names it. Empty (the default): the
    /// TCP peer is the client. No forwarded scheme (`X-Forwarded-Proto`)
    /// is read: cookie flags and URLs follow the issuer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header the trusted proxies write the client address into;
    /// the other is ignored, since a proxy passes on whatever a client sent
    /// in a header it does not write itself.
    pub proxy_header: ProxyHeader,
    /// The bearer token `/metrics` asks for; `None` turns `/metrics` off.
    pub metrics_token: Option<mcp_oauth_core::secret::ClientSecret>,
    /// The admin HTTP API (`/admin/v1/…`): off unless a static token is set
    /// or bearer access tokens are accepted.
    pub admin: AdminApi,
    /// Client ID Metadata Document fetching.
    pub cimd: crate::cimd::CimdPolicy,
    /// Origins that browser clients may call the metadata, registration,
    /// token, revocation and JWKS endpoints from; `None` allows any (these
    /// endpoints use no cookies, so `*` exposes nothing).
    pub cors_origins: Option<Vec<String>>,
    /// Test-only: every authorization request that passes the checks is
    /// approved as this user at once, without a login or consent page (for
    /// automated conformance runs). [`crate::serve`] refuses it on a
    /// non-loopback listener, [`crate::AuthServer::new`] when the user does not
    /// exist, and every approval is logged as a warning; never set it in
    /// production.
    pub dev_auto_approve: Option<String>,
    /// Upstream identity providers people may sign in with (federated
    /// login); the login page offers each.
    pub upstreams: Vec<crate::federation::UpstreamConfig>,
    /// Enterprise identity providers whose identity assertion grants
    /// (ID-JAG, `urn:ietf:params:oauth:grant-type:jwt-bearer`) the token
    /// endpoint accepts; none by default.
    pub trusted_idps: Vec<crate::federation::TrustedIdpConfig>,
    /// Whether people may sign in with a local username and password (the
    /// form and the headless JSON login). Turn it off when everyone signs
    /// in upstream.
    pub local_login: bool,
    /// Token exchange (RFC 8693): ID-JAGs for other authorization
    /// servers and downscoped tokens for downstream resources; none by
    /// default.
    pub exchange: crate::exchange_config::ExchangeConfig,
}

impl ServerConfig {
    /// A configuration with safe defaults: 15-minute access tokens, 30-day
    /// refresh tokens within a 90-day grant, 60-second codes, 10-second
    /// refresh grace, scope `mcp`, open registration (for clients that act
    /// for a person who signs in and consents) capped at 10,000 clients,
    /// no trusted clients, `/metrics` off.
    pub fn new(issuer: Issuer) -> Self {
        Self {
            issuer,
            keys: crate::keys::KeyPolicy::default(),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            grant_max_lifetime: Duration::from_secs(90 * 24 * 3600),
            code_ttl: Duration::from_secs(60),
            device_flow: true,
            oidc: true,
            device_code_ttl: Duration::from_secs(600),
            device_poll_interval: Duration::from_secs(5),
            refresh_grace: Duration::from_secs(10),
            scopes_supported: vec!["mcp".to_owned()],
            default_scope: ScopeSet::parse_lossy("mcp"),
            allowed_resources: None,
            registration: RegistrationPolicy::Open,
            max_clients: 10_000,
            unused_client_ttl: Duration::from_secs(24 * 3600),
            dcr_idle_days: 90,
            registrations_per_hour: 60,
            superuser: None,
            login_limits: crate::ratelimit::ThrottleLimits::default(),
            cors_origins: None,
            cimd: crate::cimd::CimdPolicy::default(),
            clients: Vec::new(),
            metrics_token: None,
            admin: AdminApi::default(),
            limits: ConnectionLimits::default(),
            trusted_proxies: Vec::new(),
            proxy_header: ProxyHeader::XForwardedFor,
            session_ttl: Duration::from_secs(12 * 3600),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            audit_log: None,
            dev_auto_approve: None,
            upstreams: Vec::new(),
            trusted_idps: Vec::new(),
            local_login: true,
            exchange: crate::exchange_config::ExchangeConfig::default(),
        }
    }

    /// Sets the superuser.
    pub fn superuser(mut self, username: impl Into<String>, password: Password) -> Self {
        self.superuser = Some((username.into(), password));
        self
    }

    /// Sets the access-token lifetime.
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// Sets how many days a dynamically registered client may stay idle
    /// before it is reaped (0: never); see [`ServerConfig::dcr_idle_days`].
    pub fn dcr_idle_days(mut self, days: u64) -> Self {
        self.dcr_idle_days = days;
        self
    }

    /// Sets the authorization-code lifetime.
    pub fn code_ttl(mut self, ttl: Duration) -> Self {
        self.code_ttl = ttl;
        self
    }

    /// Serves the device authorization grant (RFC 8628), or not.
    pub fn device_flow(mut self, enabled: bool) -> Self {
        self.device_flow = enabled;
        self
    }

    /// Serves OpenID Connect (ID tokens, `/userinfo`, the discovery
    /// fields), or not.
    pub fn oidc(mut self, enabled: bool) -> Self {
        self.oidc = enabled;
        self
    }

    /// The scopes a person may be asked to approve: `scopes_supported`,
    /// and with OpenID Connect on, [`OIDC_SCOPES`] (those already listed
    /// are not repeated). This is what the metadata advertises.
    pub fn advertised_scopes(&self) -> Vec<String> {
        let mut scopes = self.scopes_supported.clone();
        if self.oidc {
            for s in OIDC_SCOPES {
                if !scopes.iter().any(|have| have == s) {
                    scopes.push((*s).to_owned());
                }
            }
        }
        scopes
    }

    /// Sets the refresh grace window.
    pub fn refresh_grace(mut self, grace: Duration) -> Self {
        self.refresh_grace = grace;
        self
    }

    /// Sets the supported scopes; the default scope becomes all of them
    /// but [`ADMIN_SCOPE`], which is never granted unasked.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self.default_scope = self
            .scopes_supported
            .iter()
            .filter(|s| *s != ADMIN_SCOPE)
            .cloned()
            .collect();
        self
    }

    /// Restricts the resources tokens may be issued for.
    pub fn allowed_resources(mut self, resources: Vec<ResourceUri>) -> Self {
        self.allowed_resources = Some(resources);
        self
    }

    /// Adds a client the operator trusts (see [`crate::OperatorClient`]).
    pub fn client(mut self, client: crate::operator::OperatorClient) -> Self {
        self.clients.push(client);
        self
    }

    /// Serves `/metrics` to callers presenting this bearer token.
    pub fn metrics_token(mut self, token: impl Into<String>) -> Self {
        self.metrics_token = Some(mcp_oauth_core::secret::ClientSecret::new(token.into()));
        self
    }

    /// Turns the admin API on with this static bootstrap token (at least
    /// [`AdminApi::MIN_TOKEN_LEN`] characters; [`crate::AuthServer::new`]
    /// refuses a shorter one).
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin.token = Some(mcp_oauth_core::secret::ClientSecret::new(token.into()));
        self
    }

    /// Turns the admin API on for bearer access tokens: tokens of trusted
    /// clients, from the `client_credentials` grant, with scope
    /// [`ADMIN_SCOPE`] and the audience [`ServerConfig::admin_audience`].
    pub fn admin_bearer_tokens(mut self, enabled: bool) -> Self {
        self.admin.bearer_tokens = enabled;
        self
    }

    /// The audience (RFC 8707 resource) of access tokens for the admin API:
    /// `{issuer}/admin/v1`.
    pub fn admin_audience(&self) -> String {
        self.issuer.endpoint(AdminApi::PATH)
    }

    /// Trusts an enterprise identity provider's identity assertion grants.
    pub fn trusted_idp(mut self, idp: crate::federation::TrustedIdpConfig) -> Self {
        self.trusted_idps.push(idp);
        self
    }

    /// Adds an upstream identity provider.
    pub fn upstream(mut self, upstream: crate::federation::UpstreamConfig) -> Self {
        self.upstreams.push(upstream);
        self
    }

    /// Sets the registration policy.
    pub fn registration(mut self, policy: RegistrationPolicy) -> Self {
        self.registration = policy;
        self
    }
}

/// The scope an access token needs for the admin API. It is granted only
/// by the `client_credentials` grant to trusted clients that list it in
/// their scopes, never to a person's grant.
pub const ADMIN_SCOPE: &str = "admin";

/// The OpenID Connect scopes accepted when [`ServerConfig::oidc`] is on:
/// `openid` asks for an ID token, `profile` and `email` for the claims of
/// that name this server knows.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email"];

/// The admin HTTP API's switches: off (both unset) by default, and then
/// `/admin/v1/…` answers 404.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AdminApi {
    /// A static bearer token for bootstrap (the operator's own scripts
    /// before any admin client exists). Compared in constant time, never
    /// logged.
    pub token: Option<mcp_oauth_core::secret::ClientSecret>,
    /// Accept access tokens this server issued by `client_credentials` to a
    /// trusted client, with scope [`ADMIN_SCOPE`] and the audience
    /// [`ServerConfig::admin_audience`].
    pub bearer_tokens: bool,
}

impl AdminApi {
    /// The path of the API under the issuer, and of its token audience.
    pub const PATH: &'static str = "/admin/v1";
    /// The shortest static token accepted.
    pub const MIN_TOKEN_LEN: usize = 32;

    /// Whether the API is served.
    pub fn enabled(&self) -> bool {
        self.bearer_tokens || self.token.is_some()
    }
}

/// Which forwarding header trusted reverse proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProxyHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
}

impl std::str::FromStr for ProxyHeader {
    type Err = String;

    /// `x-forwarded-for` or `forwarded`, in any case.
    ///
    /// ```
    /// use mcp_oauth_server::ProxyHeader;
    /// assert_eq!("Forwarded".parse(), Ok(ProxyHeader::Forwarded));
    /// assert!("x-real-ip".parse::<ProxyHeader>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err(format!(
                "{s:?} is not a proxy header: x-forwarded-for or forwarded"
            )),
        }
    }
}
