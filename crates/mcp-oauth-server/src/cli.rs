//! Command line, environment and TOML configuration of the binary.
//! Precedence: flags > `MCP_OAUTH_*` environment > TOML file > defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::secret::{ClientSecret, Password};
use mcp_oauth_server::federation::UpstreamConfig;
use mcp_oauth_server::{OperatorClient, RegistrationPolicy, ServerConfig};

use crate::commands::Command;
use serde::Deserialize;

/// The OAuth 2.1 authorization server for MCP.
///
/// Starts on 127.0.0.1:9000 with an embedded SQLite database
/// (./mcp-oauth.db) holding clients, tokens, signing keys and users. At
/// first start without a configured superuser, a user `admin` with a
/// generated password is created and the password printed once.
#[derive(Debug, Parser)]
#[command(name = "mcp-oauth-server", version, about, long_about)]
pub(crate) struct Cli {
    /// TOML configuration file (lowest precedence after defaults).
    #[arg(long, env = "MCP_OAUTH_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Storage: `sqlite:PATH` (default `sqlite:./mcp-oauth.db`), `postgres://…` (shared by several instances; TLS with `?sslmode=verify-full`) or `memory`.
    #[arg(long, env = "MCP_OAUTH_STORAGE", global = true, hide_env_values = true)]
    pub storage: Option<String>,
    /// The PostgreSQL password, from this file (keeps it out of the URL,
    /// the process list and the environment).
    #[arg(long, env = "MCP_OAUTH_STORAGE_PASSWORD_FILE", global = true)]
    pub storage_password_file: Option<PathBuf>,
    /// Public issuer URL, emitted exactly as given (default `http://HOST:PORT`).
    #[arg(long, env = "MCP_OAUTH_ISSUER", global = true)]
    pub issuer: Option<String>,
    /// Address to listen on (default 127.0.0.1).
    #[arg(long, env = "MCP_OAUTH_HOST")]
    pub host: Option<String>,
    /// Port to listen on (default 9000; 0 picks a free one).
    #[arg(long, env = "MCP_OAUTH_PORT")]
    pub port: Option<u16>,
    /// Superuser name, created or updated at start.
    #[arg(long, env = "MCP_OAUTH_SUPERUSER")]
    pub superuser: Option<String>,
    /// Superuser password (prefer `--superuser-password-file`: arguments
    /// are visible to every user of the machine).
    #[arg(long, env = "MCP_OAUTH_SUPERUSER_PASSWORD", hide_env_values = true)]
    pub superuser_password: Option<String>,
    /// Superuser password, from this file.
    #[arg(long, env = "MCP_OAUTH_SUPERUSER_PASSWORD_FILE")]
    pub superuser_password_file: Option<PathBuf>,
    /// Access-token lifetime in seconds (default 900).
    #[arg(long, env = "MCP_OAUTH_ACCESS_TOKEN_TTL")]
    pub access_token_ttl: Option<u64>,
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
    /// The initial access token, from this file.
    #[arg(long, env = "MCP_OAUTH_INITIAL_ACCESS_TOKEN_FILE")]
    pub initial_access_token_file: Option<PathBuf>,
    /// Most clients that may register (default 10000).
    #[arg(long, env = "MCP_OAUTH_MAX_CLIENTS")]
    pub max_clients: Option<usize>,
    /// Hours a registered client no person has consented to is kept
    /// (default 24).
    #[arg(long, env = "MCP_OAUTH_UNUSED_CLIENT_HOURS")]
    pub unused_client_hours: Option<u64>,
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
    /// The `/metrics` token, from this file.
    #[arg(long, env = "MCP_OAUTH_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
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
    /// Refuse URL client ids (Client ID Metadata Documents).
    #[arg(long, env = "MCP_OAUTH_DISABLE_CIMD")]
    pub disable_cimd: bool,
    /// Let metadata documents be fetched from loopback and private
    /// addresses, on any port (labs only: this opens the SSRF guard).
    #[arg(long, env = "MCP_OAUTH_CIMD_ALLOW_PRIVATE")]
    pub cimd_allow_private: bool,
    /// TEST-ONLY: approve every valid authorization request as USER without
    /// a login page (automated conformance runs). Refused unless the server
    /// listens on a loopback address; every approval is logged as a warning.
    #[arg(long, env = "MCP_OAUTH_DEV_AUTO_APPROVE", value_name = "USER")]
    pub dev_auto_approve: Option<String>,
    /// Refuse username/password sign-in (people sign in with the upstream
    /// identity providers of the TOML file's `[[upstreams]]`).
    #[arg(long, env = "MCP_OAUTH_DISABLE_LOCAL_LOGIN")]
    pub disable_local_login: bool,
    /// Log filter, e.g. `info` or `mcp_oauth_server=debug` (default `info`).
    #[arg(long, env = "MCP_OAUTH_LOG", global = true)]
    pub log_level: Option<String>,
    /// Log format.
    #[arg(long, env = "MCP_OAUTH_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Registration policy on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Registration {
    /// Anyone may register.
    Open,
    /// Nobody may register.
    Closed,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The TOML file: the same settings as the flags, in snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    host: Option<String>,
    port: Option<u16>,
    issuer: Option<String>,
    storage: Option<String>,
    superuser: Option<String>,
    superuser_password: Option<String>,
    access_token_ttl: Option<u64>,
    refresh_token_ttl: Option<u64>,
    code_ttl: Option<u64>,
    refresh_grace: Option<u64>,
    scopes: Option<Vec<String>>,
    allowed_resources: Option<Vec<String>>,
    registration: Option<Registration>,
    initial_access_token: Option<String>,
    max_clients: Option<usize>,
    unused_client_hours: Option<u64>,
    registrations_per_hour: Option<u32>,
    cors_origins: Option<Vec<String>>,
    disable_cimd: Option<bool>,
    cimd_allow_private: Option<bool>,
    introspection_credentials: Option<Vec<String>>,
    disable_local_login: Option<bool>,
    metrics_token: Option<String>,
    grant_max_lifetime: Option<u64>,
    body_timeout: Option<u64>,
    max_connections: Option<usize>,
    cimd_fetches_per_minute: Option<u32>,
    trusted_proxies: Option<Vec<String>>,
    proxy_header: Option<String>,
    login_attempts_per_account: Option<u32>,
    login_attempts_per_address: Option<u32>,
    /// Upstream identity providers (federated login); file only.
    #[serde(default)]
    upstreams: Vec<UpstreamConfig>,
    /// Clients the operator trusts; file only.
    #[serde(default)]
    clients: Vec<OperatorClient>,
    log_level: Option<String>,
    log_format: Option<LogFormat>,
}

/// The merged settings.
pub(crate) struct Settings {
    pub host: String,
    pub port: u16,
    pub storage: String,
    pub log_level: String,
    pub log_format: LogFormat,
    pub explicit_issuer: Option<String>,
    pub config_template: ServerConfigParts,
}

/// What goes into a [`ServerConfig`] once the issuer is known.
pub(crate) struct ServerConfigParts {
    superuser: Option<(String, String)>,
    access_token_ttl: Option<u64>,
    refresh_token_ttl: Option<u64>,
    code_ttl: Option<u64>,
    refresh_grace: Option<u64>,
    scopes: Option<Vec<String>>,
    allowed_resources: Option<Vec<String>>,
    registration: Option<Registration>,
    initial_access_token: Option<String>,
    max_clients: Option<usize>,
    unused_client_hours: Option<u64>,
    registrations_per_hour: Option<u32>,
    cors_origins: Option<Vec<String>>,
    disable_cimd: bool,
    cimd_allow_private: bool,
    introspection_credentials: Vec<String>,
    dev_auto_approve: Option<String>,
    disable_local_login: bool,
    upstreams: Vec<UpstreamConfig>,
    clients: Vec<OperatorClient>,
    metrics_token: Option<String>,
    grant_max_lifetime: Option<u64>,
    body_timeout: Option<u64>,
    max_connections: Option<usize>,
    cimd_fetches_per_minute: Option<u32>,
    trusted_proxies: Vec<String>,
    proxy_header: Option<String>,
    login_attempts_per_account: Option<u32>,
    login_attempts_per_address: Option<u32>,
}

impl Cli {
    /// Merges flags/env over the TOML file over defaults.
    pub(crate) fn settings(&self) -> Result<Settings, String> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                crate::secret_files::check_private(path, "configuration file")?;
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let from_file = |path: &Option<PathBuf>, what: &str| {
            path.as_deref()
                .map(|p| crate::secret_files::read_secret(p, what))
                .transpose()
        };
        let superuser_password =
            match from_file(&self.superuser_password_file, "superuser password file")? {
                Some(p) => Some(p),
                None => self.superuser_password.clone().or(file.superuser_password),
            };
        let initial_access_token =
            match from_file(&self.initial_access_token_file, "initial access token file")? {
                Some(t) => Some(t),
                None => self
                    .initial_access_token
                    .clone()
                    .or(file.initial_access_token),
            };
        let metrics_token = match from_file(&self.metrics_token_file, "metrics token file")? {
            Some(t) => Some(t),
            None => self.metrics_token.clone().or(file.metrics_token),
        };
        let mut storage = self
            .storage
            .clone()
            .or(file.storage)
            .unwrap_or_else(|| "sqlite:./mcp-oauth.db".into());
        if let Some(password) = from_file(&self.storage_password_file, "storage password file")? {
            storage = crate::secret_files::with_password(&storage, &password)?;
        }
        let superuser = match (
            self.superuser.clone().or(file.superuser),
            superuser_password,
        ) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => return Err("--superuser and --superuser-password go together".into()),
        };
        Ok(Settings {
            host: self
                .host
                .clone()
                .or(file.host)
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: self.port.or(file.port).unwrap_or(9000),
            storage,
            log_level: self
                .log_level
                .clone()
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            log_format: self
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            explicit_issuer: self.issuer.clone().or(file.issuer),
            config_template: ServerConfigParts {
                superuser,
                access_token_ttl: self.access_token_ttl.or(file.access_token_ttl),
                refresh_token_ttl: self.refresh_token_ttl.or(file.refresh_token_ttl),
                code_ttl: self.code_ttl.or(file.code_ttl),
                refresh_grace: self.refresh_grace.or(file.refresh_grace),
                scopes: self.scopes.clone().or(file.scopes),
                allowed_resources: self.allowed_resources.clone().or(file.allowed_resources),
                registration: self.registration.or(file.registration),
                initial_access_token,
                max_clients: self.max_clients.or(file.max_clients),
                unused_client_hours: self.unused_client_hours.or(file.unused_client_hours),
                registrations_per_hour: self.registrations_per_hour.or(file.registrations_per_hour),
                cors_origins: self.cors_origins.clone().or(file.cors_origins),
                disable_cimd: self.disable_cimd || file.disable_cimd.unwrap_or(false),
                cimd_allow_private: self.cimd_allow_private
                    || file.cimd_allow_private.unwrap_or(false),
                introspection_credentials: self
                    .introspection_credentials
                    .clone()
                    .or(file.introspection_credentials)
                    .unwrap_or_default(),
                dev_auto_approve: self.dev_auto_approve.clone(),
                disable_local_login: self.disable_local_login
                    || file.disable_local_login.unwrap_or(false),
                upstreams: with_secrets(file.upstreams, |k| std::env::var(k).ok()),
                clients: with_client_secrets(file.clients, |k| std::env::var(k).ok()),
                metrics_token,
                grant_max_lifetime: self.grant_max_lifetime.or(file.grant_max_lifetime),
                body_timeout: self.body_timeout.or(file.body_timeout),
                max_connections: self.max_connections.or(file.max_connections),
                cimd_fetches_per_minute: self
                    .cimd_fetches_per_minute
                    .or(file.cimd_fetches_per_minute),
                trusted_proxies: self
                    .trusted_proxies
                    .clone()
                    .or(file.trusted_proxies)
                    .unwrap_or_default(),
                proxy_header: self.proxy_header.clone().or(file.proxy_header),
                login_attempts_per_account: self
                    .login_attempts_per_account
                    .or(file.login_attempts_per_account),
                login_attempts_per_address: self
                    .login_attempts_per_address
                    .or(file.login_attempts_per_address),
            },
        })
    }
}

/// Fills each upstream's missing client secret from
/// `MCP_OAUTH_UPSTREAM_{ID}_CLIENT_SECRET`, so the file need not hold it.
fn with_secrets(
    mut upstreams: Vec<UpstreamConfig>,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<UpstreamConfig> {
    for u in &mut upstreams {
        if u.client_secret.is_none() {
            let var = format!(
                "MCP_OAUTH_UPSTREAM_{}_CLIENT_SECRET",
                u.id.to_ascii_uppercase().replace('-', "_")
            );
            u.client_secret = env(&var).map(ClientSecret::new);
        }
    }
    upstreams
}

/// Fills each configured client's missing secret from
/// `MCP_OAUTH_CLIENT_{ID}_SECRET` (non-alphanumerics as `_`), so the file
/// need not hold it.
fn with_client_secrets(
    mut clients: Vec<OperatorClient>,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<OperatorClient> {
    for c in &mut clients {
        if c.secret.is_none() && c.auth != mcp_oauth_core::registration::ClientAuthMethod::None {
            let id: String = c
                .client_id
                .chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() {
                        ch.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            c.secret = env(&format!("MCP_OAUTH_CLIENT_{id}_SECRET")).map(ClientSecret::new);
        }
    }
    clients
}

/// `ID:SECRET:RESOURCE` credentials as resource-server clients (one per
/// ID, serving every resource named for it).
fn resource_servers(credentials: &[String]) -> Result<Vec<OperatorClient>, String> {
    let mut out: Vec<OperatorClient> = Vec::new();
    for cred in credentials {
        let mut parts = cred.splitn(3, ':');
        let (Some(id), Some(secret), Some(resource)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("--introspection-credential wants ID:SECRET:RESOURCE (the resource server's canonical URI)".into());
        };
        let resource = ResourceUri::parse(resource)
            .map_err(|e| format!("--introspection-credential {id}: {resource}: {e}"))?;
        match out.iter_mut().find(|c| c.client_id == id) {
            Some(c) => c.resources.push(resource.as_str().to_owned()),
            None => out.push(OperatorClient::resource_server(id, secret, [resource])),
        }
    }
    Ok(out)
}

impl ServerConfigParts {
    /// Whether a superuser is configured.
    pub(crate) fn has_superuser(&self) -> bool {
        self.superuser.is_some()
    }

    /// Sets the superuser (used for the generated first-start one).
    pub(crate) fn set_superuser(&mut self, username: String, password: String) {
        self.superuser = Some((username, password));
    }

    /// Builds the server configuration for `issuer`.
    pub(crate) fn build(&self, issuer: &str) -> Result<ServerConfig, String> {
        let issuer = Issuer::parse(issuer).map_err(|e| format!("--issuer: {e}"))?;
        let mut c = ServerConfig::new(issuer);
        if let Some((u, p)) = &self.superuser {
            c = c.superuser(u.clone(), Password::new(p.clone()));
        }
        let secs = Duration::from_secs;
        if let Some(v) = self.access_token_ttl {
            c.access_token_ttl = secs(v.max(1));
        }
        if let Some(v) = self.refresh_token_ttl {
            c.refresh_token_ttl = secs(v.max(1));
        }
        if let Some(v) = self.code_ttl {
            c.code_ttl = secs(v.max(1));
        }
        if let Some(v) = self.refresh_grace {
            c.refresh_grace = secs(v);
        }
        if let Some(scopes) = &self.scopes {
            for s in scopes {
                if !mcp_oauth_core::scope::is_valid_scope_token(s) {
                    return Err(format!("--scopes: {s:?} is not a valid scope token"));
                }
            }
            c = c.scopes(scopes.clone());
        }
        if let Some(list) = &self.allowed_resources {
            let parsed = list
                .iter()
                .map(|r| {
                    ResourceUri::parse(r).map_err(|e| format!("--allowed-resources: {r}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            c = c.allowed_resources(parsed);
        }
        c.registration = match (self.registration, &self.initial_access_token) {
            (Some(Registration::Closed), _) => RegistrationPolicy::Closed,
            (_, Some(token)) => RegistrationPolicy::InitialAccessToken(token.clone()),
            _ => RegistrationPolicy::Open,
        };
        if let Some(h) = self.unused_client_hours {
            c.unused_client_ttl = Duration::from_secs(h.max(1).saturating_mul(3600));
        }
        if let Some(n) = self.max_clients {
            c.max_clients = n;
        }
        if let Some(n) = self.registrations_per_hour {
            c.registrations_per_hour = n;
        }
        c.cors_origins = self.cors_origins.clone();
        c.cimd.enabled = !self.disable_cimd;
        c.clients = self.clients.clone();
        c.clients
            .extend(resource_servers(&self.introspection_credentials)?);
        for client in &c.clients {
            client.validate()?;
        }
        if let Some(token) = &self.metrics_token {
            if token.len() < 16 {
                return Err("--metrics-token: use at least 16 characters".into());
            }
            c = c.metrics_token(token.clone());
        }
        if let Some(v) = self.grant_max_lifetime {
            c.grant_max_lifetime = secs(v.max(1));
        }
        if let Some(v) = self.body_timeout {
            c.limits.body_timeout = secs(v.max(1));
        }
        if let Some(n) = self.login_attempts_per_account {
            c.login_limits.per_account = n.max(1);
        }
        if let Some(n) = self.login_attempts_per_address {
            c.login_limits.per_address = n.max(1);
        }
        for cidr in &self.trusted_proxies {
            let net = cidr
                .trim()
                .parse::<ipnet::IpNet>()
                .or_else(|_| {
                    cidr.trim()
                        .parse::<std::net::IpAddr>()
                        .map(ipnet::IpNet::from)
                })
                .map_err(|_| format!("--trusted-proxies: {cidr:?} is not a CIDR or an address"))?;
            c.trusted_proxies.push(net);
        }
        if let Some(h) = &self.proxy_header {
            c.proxy_header = h.parse().map_err(|e| format!("--proxy-header: {e}"))?;
        }
        if let Some(n) = self.cimd_fetches_per_minute {
            c.cimd.fetches_per_minute = n;
        }
        if let Some(n) = self.max_connections {
            c.limits.max_connections = Some(n.max(1));
        }
        c.cimd.fetch.allow_private_addresses = self.cimd_allow_private;
        c.cimd.fetch.allow_any_port = self.cimd_allow_private;
        c.dev_auto_approve = self.dev_auto_approve.clone();
        c.local_login = !self.disable_local_login;
        for u in &self.upstreams {
            u.validate()?;
        }
        c.upstreams = self.upstreams.clone();
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration file private to its owner, as the binary demands.
    fn write_private(path: &std::path::Path, text: &str) {
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("mcp-oauth-server").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn defaults() {
        let s = parse(&[]).settings().unwrap();
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 9000));
        assert_eq!(s.storage, "sqlite:./mcp-oauth.db");
        let c = s.config_template.build("http://127.0.0.1:9000").unwrap();
        assert_eq!(c.issuer.as_str(), "http://127.0.0.1:9000");
        assert_eq!(c.access_token_ttl, Duration::from_secs(900));
        assert_eq!(c.registration, RegistrationPolicy::Open);
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        write_private(
            &file,
            "port = 9100\nissuer = \"https://as.example\"\naccess_token_ttl = 60\nscopes = [\"mcp\", \"files:read\"]\nregistration = \"closed\"\n",
        );
        let s = parse(&["--config", file.to_str().unwrap(), "--port", "9200"])
            .settings()
            .unwrap();
        assert_eq!(s.port, 9200, "flag wins");
        assert_eq!(
            s.explicit_issuer.as_deref(),
            Some("https://as.example"),
            "file fills the rest"
        );
        let c = s.config_template.build("https://as.example").unwrap();
        assert_eq!(c.access_token_ttl, Duration::from_secs(60));
        assert_eq!(c.scopes_supported, ["mcp", "files:read"]);
        assert_eq!(c.registration, RegistrationPolicy::Closed);
        write_private(&file, "prot = 1\n");
        assert!(
            parse(&["--config", file.to_str().unwrap()])
                .settings()
                .is_err(),
            "unknown keys are refused"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn upstreams_come_from_the_file_with_secrets_from_the_environment() {
        let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-up-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        write_private(
            &file,
            "disable_local_login = true\n\
             [[upstreams]]\nid = \"corp-sso\"\nname = \"Corp\"\nissuer = \"https://login.example\"\nclient_id = \"mcp\"\n\
             allowed_email_domains = [\"example.com\"]\n",
        );
        let s = parse(&["--config", file.to_str().unwrap()])
            .settings()
            .unwrap();
        let c = s.config_template.build("https://as.example").unwrap();
        assert!(!c.local_login);
        assert_eq!(c.upstreams.len(), 1);
        let up = &c.upstreams[0];
        let filled = with_secrets(c.upstreams.clone(), |k| {
            (k == "MCP_OAUTH_UPSTREAM_CORP_SSO_CLIENT_SECRET").then(|| "from-env".to_owned())
        });
        assert_eq!(
            filled[0].client_secret.as_ref().map(|s| s.secret()),
            Some("from-env")
        );
        assert_eq!(up.allowed_email_domains, ["example.com"]);
        write_private(
            &file,
            "[[upstreams]]\nid = \"Bad Id\"\nname = \"X\"\nissuer = \"https://login.example\"\nclient_id = \"mcp\"\n",
        );
        let s = parse(&["--config", file.to_str().unwrap()])
            .settings()
            .unwrap();
        assert!(s.config_template.build("https://as.example").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_configuration_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-perm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(&file, "superuser_password = \"s3cret\"\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = parse(&["--config", file.to_str().unwrap()])
            .settings()
            .err()
            .unwrap();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--superuser", "a"]).settings().is_err());
        let s = parse(&["--scopes", "ok,bad\"one"]).settings().unwrap();
        assert!(s.config_template.build("http://127.0.0.1:9000").is_err());
        for bad in [
            "nocolon",
            "rs:0123456789abcdef",
            "rs:0123456789abcdef:not a url",
            "rs:short:http://127.0.0.1:8000/mcp",
        ] {
            let s = parse(&["--introspection-credential", bad])
                .settings()
                .unwrap();
            assert!(
                s.config_template.build("http://127.0.0.1:9000").is_err(),
                "{bad}"
            );
        }
        let s = parse(&[
            "--introspection-credential",
            "rs:0123456789abcdef:http://127.0.0.1:8000/mcp,rs:0123456789abcdef:http://127.0.0.1:8001/mcp",
        ])
        .settings()
        .unwrap();
        let c = s.config_template.build("http://127.0.0.1:9000").unwrap();
        assert_eq!(c.clients.len(), 1);
        assert_eq!(c.clients[0].resources.len(), 2);
        assert!(c.clients[0].resource_server);
        assert!(
            parse(&[])
                .settings()
                .unwrap()
                .config_template
                .build("not a url")
                .is_err()
        );
    }
}
