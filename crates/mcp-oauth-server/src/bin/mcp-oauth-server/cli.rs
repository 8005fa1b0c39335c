//! Command line, environment and TOML configuration of the binary.
//!
//! Every setting the three share is one field of [`Options`]: clap reads
//! it from its flag or, failing that, its `MCP_OAUTH_*` variable; figment
//! lays what was given over the TOML file. Precedence: flags >
//! environment > TOML file > defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use figment::Figment;
use figment::providers::{Format, Serialized};
use figment::value::{Dict, Value};
use mcp_oauth_core::issuer::Issuer;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::secret::{ClientSecret, Password};
use mcp_oauth_server::federation::UpstreamConfig;
use mcp_oauth_server::{OperatorClient, RegistrationPolicy, ServerConfig};
use serde::{Deserialize, Serialize};

use crate::commands::Command;

/// Address the server listens on unless told otherwise.
const DEFAULT_HOST: &str = "127.0.0.1";
/// Port the server listens on unless told otherwise.
const DEFAULT_PORT: u16 = 9000;
/// Storage unless told otherwise.
const DEFAULT_STORAGE: &str = "sqlite:./mcp-oauth.db";
/// Log filter unless told otherwise.
const DEFAULT_LOG_LEVEL: &str = "info";

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
    /// The settings given as flags or environment variables.
    #[command(flatten)]
    pub options: Options,
    /// Secrets given as files.
    #[command(flatten)]
    pub secret_files: SecretFiles,
    /// TEST-ONLY: approve every valid authorization request as USER without
    /// a login page (automated conformance runs). Refused unless the server
    /// listens on a loopback address; every approval is logged as a warning.
    #[arg(long, env = "MCP_OAUTH_DEV_AUTO_APPROVE", value_name = "USER")]
    pub dev_auto_approve: Option<String>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Secrets read from files (flags and environment only): arguments are
/// visible to every user of the machine, files can be kept private.
#[derive(Debug, Default, Args)]
pub(crate) struct SecretFiles {
    /// The PostgreSQL password, from this file (keeps it out of the URL,
    /// the process list and the environment).
    #[arg(long, env = "MCP_OAUTH_STORAGE_PASSWORD_FILE", global = true)]
    pub storage_password_file: Option<PathBuf>,
    /// Superuser password, from this file.
    #[arg(long, env = "MCP_OAUTH_SUPERUSER_PASSWORD_FILE")]
    pub superuser_password_file: Option<PathBuf>,
    /// The initial access token, from this file.
    #[arg(long, env = "MCP_OAUTH_INITIAL_ACCESS_TOKEN_FILE")]
    pub initial_access_token_file: Option<PathBuf>,
    /// The `/metrics` token, from this file.
    #[arg(long, env = "MCP_OAUTH_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
}

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
    /// Clients the operator trusts; file only.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub clients: Vec<OperatorClient>,
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

/// The TOML format for figment, read with the `toml` crate the workspace
/// already uses.
struct Toml;

impl Format for Toml {
    type Error = toml::de::Error;

    const NAME: &'static str = "TOML";

    fn from_str<T: serde::de::DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        toml::from_str(string)
    }
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
    /// The merged settings (secrets from files already in).
    options: Options,
    superuser: Option<(String, String)>,
    dev_auto_approve: Option<String>,
}

impl Cli {
    /// Lays flags and environment over the TOML file over defaults, then
    /// reads the secrets given as files.
    pub(crate) fn settings(&self) -> Result<Settings, String> {
        let mut o = layered(self.config.as_deref(), &self.options)?;
        let files = &self.secret_files;
        let from_file = |path: &Option<PathBuf>, what: &str| {
            path.as_deref()
                .map(|p| crate::secret_files::read_secret(p, what))
                .transpose()
        };
        if let Some(p) = from_file(&files.superuser_password_file, "superuser password file")? {
            o.superuser_password = Some(p);
        }
        if let Some(t) = from_file(
            &files.initial_access_token_file,
            "initial access token file",
        )? {
            o.initial_access_token = Some(t);
        }
        if let Some(t) = from_file(&files.metrics_token_file, "metrics token file")? {
            o.metrics_token = Some(t);
        }
        let mut storage = o.storage.take().unwrap_or_else(|| DEFAULT_STORAGE.into());
        if let Some(password) = from_file(&files.storage_password_file, "storage password file")? {
            storage = crate::secret_files::with_password(&storage, &password)?;
        }
        let superuser = match (o.superuser.take(), o.superuser_password.take()) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => return Err("--superuser and --superuser-password go together".into()),
        };
        o.upstreams = with_secrets(std::mem::take(&mut o.upstreams), |k| std::env::var(k).ok());
        o.clients = with_client_secrets(std::mem::take(&mut o.clients), |k| std::env::var(k).ok());
        Ok(Settings {
            host: o.host.take().unwrap_or_else(|| DEFAULT_HOST.into()),
            port: o.port.unwrap_or(DEFAULT_PORT),
            storage,
            log_level: o
                .log_level
                .take()
                .unwrap_or_else(|| DEFAULT_LOG_LEVEL.into()),
            log_format: o.log_format.unwrap_or(LogFormat::Text),
            explicit_issuer: o.issuer.take(),
            config_template: ServerConfigParts {
                options: o,
                superuser,
                dev_auto_approve: self.dev_auto_approve.clone(),
            },
        })
    }
}

/// The TOML file at `config` (if any) with `given` laid over it.
fn layered(config: Option<&Path>, given: &Options) -> Result<Options, String> {
    let mut figment = Figment::new();
    if let Some(path) = config {
        crate::secret_files::check_private(path, "configuration file")?;
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(Serialized::globals(present(given)?))
        .extract()
        .map_err(|e| e.to_string())
}

/// The settings that were given: a `None` or a switch left off must not
/// hide what the file says.
fn present(options: &Options) -> Result<Dict, String> {
    let Value::Dict(_, mut given) = Value::serialize(options).map_err(|e| e.to_string())? else {
        return Ok(Dict::new());
    };
    given.retain(|_, v| !matches!(v, Value::Empty(..) | Value::Bool(_, false)));
    Ok(given)
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
        let o = &self.options;
        let mut c = ServerConfig::new(issuer);
        if let Some((u, p)) = &self.superuser {
            c = c.superuser(u.clone(), Password::new(p.clone()));
        }
        let secs = Duration::from_secs;
        if let Some(v) = o.access_token_ttl {
            c.access_token_ttl = secs(v.max(1));
        }
        if let Some(v) = o.refresh_token_ttl {
            c.refresh_token_ttl = secs(v.max(1));
        }
        if let Some(v) = o.code_ttl {
            c.code_ttl = secs(v.max(1));
        }
        if let Some(v) = o.refresh_grace {
            c.refresh_grace = secs(v);
        }
        if let Some(scopes) = &o.scopes {
            for s in scopes {
                if !mcp_oauth_core::scope::is_valid_scope_token(s) {
                    return Err(format!("--scopes: {s:?} is not a valid scope token"));
                }
            }
            c = c.scopes(scopes.clone());
        }
        if let Some(list) = &o.allowed_resources {
            let parsed = list
                .iter()
                .map(|r| {
                    ResourceUri::parse(r).map_err(|e| format!("--allowed-resources: {r}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            c = c.allowed_resources(parsed);
        }
        c.registration = match (o.registration, &o.initial_access_token) {
            (Some(Registration::Closed), _) => RegistrationPolicy::Closed,
            (_, Some(token)) => RegistrationPolicy::InitialAccessToken(token.clone()),
            _ => RegistrationPolicy::Open,
        };
        if let Some(h) = o.unused_client_hours {
            c.unused_client_ttl = Duration::from_secs(h.max(1).saturating_mul(3600));
        }
        if let Some(n) = o.max_clients {
            c.max_clients = n;
        }
        if let Some(n) = o.registrations_per_hour {
            c.registrations_per_hour = n;
        }
        c.cors_origins = o.cors_origins.clone();
        c.cimd.enabled = !o.disable_cimd;
        c.clients = o.clients.clone();
        c.clients.extend(resource_servers(
            o.introspection_credentials.as_deref().unwrap_or_default(),
        )?);
        for client in &c.clients {
            client.validate()?;
        }
        if let Some(token) = &o.metrics_token {
            if token.len() < 16 {
                return Err("--metrics-token: use at least 16 characters".into());
            }
            c = c.metrics_token(token.clone());
        }
        if let Some(v) = o.grant_max_lifetime {
            c.grant_max_lifetime = secs(v.max(1));
        }
        if let Some(v) = o.body_timeout {
            c.limits.body_timeout = secs(v.max(1));
        }
        if let Some(n) = o.login_attempts_per_account {
            c.login_limits.per_account = n.max(1);
        }
        if let Some(n) = o.login_attempts_per_address {
            c.login_limits.per_address = n.max(1);
        }
        for cidr in o.trusted_proxies.iter().flatten() {
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
        if let Some(h) = &o.proxy_header {
            c.proxy_header = h.parse().map_err(|e| format!("--proxy-header: {e}"))?;
        }
        if let Some(n) = o.cimd_fetches_per_minute {
            c.cimd.fetches_per_minute = n;
        }
        if let Some(n) = o.max_connections {
            c.limits.max_connections = Some(n.max(1));
        }
        c.cimd.fetch.allow_private_addresses = o.cimd_allow_private;
        c.cimd.fetch.allow_any_port = o.cimd_allow_private;
        c.dev_auto_approve = self.dev_auto_approve.clone();
        c.local_login = !o.disable_local_login;
        for u in &o.upstreams {
            u.validate()?;
        }
        c.upstreams = o.upstreams.clone();
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

    #[test]
    fn switches_and_file_only_settings() {
        let dir = std::env::temp_dir().join(format!("mcp-oauth-cli-sw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        write_private(
            &file,
            "disable_cimd = true\nlog_format = \"json\"\nintrospection_credentials = [\"rs:0123456789abcdef:http://127.0.0.1:8000/mcp\"]\n",
        );
        let config = file.to_str().unwrap();
        let s = parse(&["--config", config]).settings().unwrap();
        assert_eq!(s.log_format, LogFormat::Json);
        let c = s.config_template.build("http://127.0.0.1:9000").unwrap();
        assert!(!c.cimd.enabled, "a switch left off keeps the file's value");
        assert_eq!(c.clients.len(), 1);
        let s = parse(&[
            "--config",
            config,
            "--log-format",
            "text",
            "--cimd-allow-private",
        ])
        .settings()
        .unwrap();
        assert_eq!(s.log_format, LogFormat::Text, "flag wins");
        let c = s.config_template.build("http://127.0.0.1:9000").unwrap();
        assert!(c.cimd.fetch.allow_private_addresses);
        for flag_only in [
            "dev_auto_approve = \"admin\"\n",
            "superuser_password_file = \"/tmp/x\"\n",
            "config = \"/tmp/x\"\n",
        ] {
            write_private(&file, flag_only);
            assert!(
                parse(&["--config", config]).settings().is_err(),
                "{flag_only}"
            );
        }
        write_private(&file, "port = \"high\"\n");
        let err = parse(&["--config", config]).settings().err().unwrap();
        assert!(err.contains("port"), "the error names the setting: {err}");
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
