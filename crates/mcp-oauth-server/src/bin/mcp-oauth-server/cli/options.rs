//! The settings the TOML file, `MCP_OAUTH_*` variables and flags share.

use clap::{Args, ValueEnum};
use mcp_oauth_server::OperatorClient;
use mcp_oauth_server::exchange_config::{IdJagAudience, TokenExchangePolicy};
use mcp_oauth_server::federation::{TrustedIdpConfig, UpstreamConfig};
use serde::{Deserialize, Serialize};

/// The settings flags, `MCP_OAUTH_*` variables and the TOML file share:
/// each field has its flag (`--access-token-ttl`), its variable
/// (`MCP_OAUTH_ACCESS_TOKEN_TTL`) and its TOML key (`access_token_ttl`).
/// A field left `None` (or a switch left off) was not given, so the layer
/// below shows through.
#[derive(Debug, Default, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Options {
    /// Storage: `sqlite:PATH` (default `sqlite:./mcp-oauth.db`), `postgres://…` (shared by several instances; TLS with `?sslmode=verify-full`) or `memory`.
    #[arg(long, env = "MCP_OAUTH_STORAGE", global = true, hide_env_values = true)]
    pub storage: Option<String>,
    /// Public issuer URL, emitted exactly as given (default `http://HOST:PORT`).
    #[arg(long, env = "MCP_OAUTH_ISSUER", global = true)]
    pub issuer: Option<String>,
    /// Address to listen on (default 127.0.0.1).
    #[arg(long, env = "MCP_OAUTH_HOST")]
    pub host: Option<String>,
    /// Port to listen on (default 9000; 0 picks a free one).
    #[arg(long, env = "MCP_OAUTH_PORT")]
    pub port: Option<u16>,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate chain,
    /// the server's certificate first; needs `--tls-key`. The default
    /// issuer becomes `https://HOST:PORT`. Reread when the file changes
    /// and on SIGHUP.
    #[arg(long, env = "MCP_OAUTH_TLS_CERT", value_name = "PATH")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, env = "MCP_OAUTH_TLS_KEY", value_name = "PATH")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Superuser name, created or updated at start.
    #[arg(long, env = "MCP_OAUTH_SUPERUSER")]
    pub superuser: Option<String>,
    /// Superuser password (prefer `--superuser-password-file`: arguments
    /// are visible to every user of the machine).
    #[arg(long, env = "MCP_OAUTH_SUPERUSER_PASSWORD", hide_env_values = true)]
    pub superuser_password: Option<String>,
    /// Access-token lifetime in seconds (default 900).
    #[arg(long, env = "MCP_OAUTH_ACCESS_TOKEN_TTL")]
    pub access_token_ttl: Option<u64>,
    /// Algorithm of new signing keys: `ES256` (default) or `EdDSA`
    /// (Ed25519). A change is published a rotation period ahead
    /// (`--key-publish-ahead-hours`); the JWKS carries both meanwhile.
    #[arg(long, env = "MCP_OAUTH_SIGNING_ALG")]
    pub signing_alg: Option<String>,
    /// Days a signing key signs before the next one takes over (default
    /// 30; 0: only on `key rotate`).
    #[arg(long, env = "MCP_OAUTH_KEY_ROTATION_DAYS")]
    pub key_rotation_days: Option<u64>,
    /// Hours a new signing key is published before it signs (default 24:
    /// longer than any verifier caches the JWKS).
    #[arg(long, env = "MCP_OAUTH_KEY_PUBLISH_AHEAD_HOURS")]
    pub key_publish_ahead_hours: Option<u64>,
    /// Refresh-token lifetime in seconds (default 2592000, 30 days).
    #[arg(long, env = "MCP_OAUTH_REFRESH_TOKEN_TTL")]
    pub refresh_token_ttl: Option<u64>,
    /// Authorization-code lifetime in seconds (default 60).
    #[arg(long, env = "MCP_OAUTH_CODE_TTL")]
    pub code_ttl: Option<u64>,
    /// Seconds a rotated refresh token stays usable, for concurrent
    /// refreshes (default 10).
    #[arg(long, env = "MCP_OAUTH_REFRESH_GRACE")]
    pub refresh_grace: Option<u64>,
    /// Supported scopes, comma-separated (default `mcp`).
    #[arg(long, env = "MCP_OAUTH_SCOPES", value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,
    /// Resources tokens may be issued for, comma-separated (default: any).
    #[arg(long, env = "MCP_OAUTH_ALLOWED_RESOURCES", value_delimiter = ',')]
    pub allowed_resources: Option<Vec<String>>,
    /// Dynamic registration: `open` (default) or `closed`.
    #[arg(long, env = "MCP_OAUTH_REGISTRATION")]
    pub registration: Option<Registration>,
    /// Require this initial access token to register (RFC 7591 §3).
    #[arg(long, env = "MCP_OAUTH_INITIAL_ACCESS_TOKEN", hide_env_values = true)]
    pub initial_access_token: Option<String>,
    /// Most clients that may register (default 10000).
    #[arg(long, env = "MCP_OAUTH_MAX_CLIENTS")]
    pub max_clients: Option<usize>,
    /// Hours a registered client no person has consented to is kept
    /// (default 24).
    #[arg(long, env = "MCP_OAUTH_UNUSED_CLIENT_HOURS")]
    pub unused_client_hours: Option<u64>,
    /// Days a dynamically registered client may go without a token before
    /// it is deleted with its grants (default 90; 0: never). The
    /// operator's clients are never deleted.
    #[arg(long, env = "MCP_OAUTH_DCR_IDLE_DAYS")]
    pub dcr_idle_days: Option<u64>,
    /// Most registrations per hour from one address (default 60).
    #[arg(long, env = "MCP_OAUTH_REGISTRATIONS_PER_HOUR")]
    pub registrations_per_hour: Option<u32>,
    /// Origins browser clients may call the metadata, registration, token,
    /// revocation and JWKS endpoints from, comma-separated (default: any).
    #[arg(long, env = "MCP_OAUTH_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,
    /// A resource server allowed to introspect the tokens of one resource
    /// it serves: `ID:SECRET:RESOURCE` (repeatable, or comma-separated in
    /// the environment; repeat an ID for several resources).
    #[arg(
        long = "introspection-credential",
        env = "MCP_OAUTH_INTROSPECTION_CREDENTIALS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub introspection_credentials: Option<Vec<String>>,
    /// Serve `/metrics` to callers presenting this bearer token (default:
    /// `/metrics` is off).
    #[arg(long, env = "MCP_OAUTH_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve the admin API (`/admin/v1/…`) to callers presenting this
    /// static bearer token, at least 32 characters (default: no static
    /// token). For bootstrap; prefer `--admin-token-file`.
    #[arg(long, env = "MCP_OAUTH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Serve the admin API to access tokens of trusted clients holding the
    /// `admin` scope (client credentials, resource `{issuer}/admin/v1`).
    #[arg(long, env = "MCP_OAUTH_ADMIN_BEARER_TOKENS")]
    #[serde(default)]
    pub admin_bearer_tokens: bool,
    /// Also write every audit event as a JSON line to `stdout` or to this
    /// file (created 0600), for log shippers (default: storage only).
    #[arg(long, env = "MCP_OAUTH_AUDIT_LOG")]
    pub audit_log: Option<String>,
    /// Days audit events are kept (default 90).
    #[arg(long, env = "MCP_OAUTH_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u64>,
    /// Longest a grant lives, in seconds from the user's sign-in; refreshes
    /// never extend it (default 7776000, 90 days).
    #[arg(long, env = "MCP_OAUTH_GRANT_MAX_LIFETIME")]
    pub grant_max_lifetime: Option<u64>,
    /// Login attempts one account may make per 15 minutes (default 5;
    /// successes are given back).
    #[arg(long, env = "MCP_OAUTH_LOGIN_ATTEMPTS_PER_ACCOUNT")]
    pub login_attempts_per_account: Option<u32>,
    /// Login attempts one client address may make per 15 minutes (default
    /// 20; successes are given back).
    #[arg(long, env = "MCP_OAUTH_LOGIN_ATTEMPTS_PER_ADDRESS")]
    pub login_attempts_per_address: Option<u32>,
    /// Reverse proxies whose `Forwarded`/`X-Forwarded-For` headers are
    /// believed, comma-separated CIDRs (e.g. `10.0.0.0/8,127.0.0.1/32`);
    /// per-address limits then count the client they report.
    #[arg(long, env = "MCP_OAUTH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// The header those proxies write the client address into:
    /// `x-forwarded-for` (default) or `forwarded`; the other is ignored.
    #[arg(long, env = "MCP_OAUTH_PROXY_HEADER")]
    pub proxy_header: Option<String>,
    /// New client metadata documents one address may make the server fetch
    /// per minute (default 30).
    #[arg(long, env = "MCP_OAUTH_CIMD_FETCHES_PER_MINUTE")]
    pub cimd_fetches_per_minute: Option<u32>,
    /// Seconds a client has to send a request's body once its head has
    /// arrived (default 10); slower clients are answered 408 and cut off.
    #[arg(long, env = "MCP_OAUTH_BODY_TIMEOUT")]
    pub body_timeout: Option<u64>,
    /// Connections served at once (default: from the file-descriptor limit).
    #[arg(long, env = "MCP_OAUTH_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// The only hosts client metadata documents may come from,
    /// comma-separated: exact hosts (`app.example.com`) or `*.example.com`
    /// for any subdomain (default: any host). Others are refused before
    /// anything is fetched.
    #[arg(long, env = "MCP_OAUTH_CIMD_ALLOWED_HOSTS", value_delimiter = ',')]
    pub cimd_allowed_hosts: Option<Vec<String>>,
    /// Refuse URL client ids (Client ID Metadata Documents).
    #[arg(long, env = "MCP_OAUTH_DISABLE_CIMD")]
    #[serde(default)]
    pub disable_cimd: bool,
    /// Let metadata documents be fetched from loopback and private
    /// addresses, on any port (labs only: this opens the SSRF guard).
    #[arg(long, env = "MCP_OAUTH_CIMD_ALLOW_PRIVATE")]
    #[serde(default)]
    pub cimd_allow_private: bool,
    /// Refuse username/password sign-in (people sign in with the upstream
    /// identity providers of the TOML file's `[[upstreams]]`).
    #[arg(long, env = "MCP_OAUTH_DISABLE_LOCAL_LOGIN")]
    #[serde(default)]
    pub disable_local_login: bool,
    /// Do not serve the device authorization grant (RFC 8628): no
    /// `/device_authorization`, no `/device` page, not advertised.
    #[arg(long, env = "MCP_OAUTH_DISABLE_DEVICE_FLOW")]
    #[serde(default)]
    pub disable_device_flow: bool,
    /// Do not serve OpenID Connect: scope `openid` (and `profile`,
    /// `email`) is refused, no ID tokens, no `/userinfo`, and the discovery
    /// documents carry no OpenID Connect fields.
    #[arg(long, env = "MCP_OAUTH_DISABLE_OIDC")]
    #[serde(default)]
    pub disable_oidc: bool,
    /// Log filter, e.g. `info` or `mcp_oauth_server=debug` (default `info`).
    #[arg(long, env = "MCP_OAUTH_LOG", global = true)]
    pub log_level: Option<String>,
    /// Log format.
    #[arg(long, env = "MCP_OAUTH_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Upstream identity providers (federated login); file only.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub upstreams: Vec<UpstreamConfig>,
    /// Enterprise identity providers whose identity assertion grants
    /// (ID-JAG) the token endpoint accepts; file only.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub trusted_idps: Vec<TrustedIdpConfig>,
    /// Clients the operator trusts; file only.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub clients: Vec<OperatorClient>,
    /// Authorization servers this server issues ID-JAGs for (token
    /// exchange as an enterprise identity provider); file only.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub id_jag_audiences: Vec<IdJagAudience>,
    /// Resource servers that may exchange the tokens they receive for
    /// downstream ones (token exchange with `act`); file only.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub token_exchange: Vec<TokenExchangePolicy>,
}

/// Registration policy on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Registration {
    /// Anyone may register.
    Open,
    /// Nobody may register.
    Closed,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
