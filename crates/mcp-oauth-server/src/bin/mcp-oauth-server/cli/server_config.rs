//! The library's [`ServerConfig`] from the merged settings.

use std::time::Duration;

use mcp_oauth_core::issuer::{Issuer, IssuerError};
use mcp_oauth_core::resource::{ResourceError, ResourceUri};
use mcp_oauth_core::secret::Password;
use mcp_oauth_server::{AuditLog, OperatorClient, RegistrationPolicy, ServerConfig};

use mcp_oauth_server::keys::KeyEncryptionKey;

use super::options::{Options, Registration};

/// The variable holding the key that encrypts private signing keys at
/// rest (base64 of 32 random bytes). Only from the environment: a flag
/// would show it to every user of the machine, and the TOML file often
/// sits beside the database it protects.
pub(crate) const KEY_ENCRYPTION_KEY_VAR: &str = "MCP_OAUTH_KEY_ENCRYPTION_KEY";

/// A setting the server configuration refuses; each names its flag (the
/// TOML key is the same in snake_case).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The issuer is not a valid issuer URL.
    #[error("--issuer")]
    Issuer(#[source] IssuerError),
    /// A scope is not a valid scope token (RFC 6749 §3.3).
    #[error("--scopes: {0:?} is not a valid scope token")]
    Scope(String),
    /// An allowed metadata-document host is neither a host nor a
    /// `*.domain` pattern.
    #[error("--cimd-allowed-hosts: {0:?} is neither a host nor a *.domain pattern")]
    CimdHost(String),
    /// An allowed resource is not a valid resource URI.
    #[error("--allowed-resources: {value}")]
    AllowedResource {
        /// The value given.
        value: String,
        /// Why it is refused.
        #[source]
        source: ResourceError,
    },
    /// An introspection credential is not `ID:SECRET:RESOURCE`.
    #[error(
        "--introspection-credential wants ID:SECRET:RESOURCE (the resource server's canonical URI)"
    )]
    CredentialShape,
    /// An introspection credential names an invalid resource.
    #[error("--introspection-credential {id}: {resource}")]
    CredentialResource {
        /// The resource server's client id.
        id: String,
        /// The resource given.
        resource: String,
        /// Why it is refused.
        #[source]
        source: ResourceError,
    },
    /// The `/metrics` token is too short to resist guessing.
    #[error("--metrics-token: use at least 16 characters")]
    ShortMetricsToken,
    /// The admin token is too short to resist guessing.
    #[error("--admin-token: use at least 32 characters")]
    ShortAdminToken,
    /// A trusted proxy is neither a CIDR nor an address.
    #[error("--trusted-proxies: {value:?} is not a CIDR or an address")]
    TrustedProxy {
        /// The value given.
        value: String,
        /// Why it does not parse as an address.
        #[source]
        source: std::net::AddrParseError,
    },
    /// The proxy header is not one the server reads (the library says
    /// which, as text).
    #[error("--proxy-header: {0}")]
    ProxyHeader(String),
    /// The signing algorithm is not one the server signs with.
    #[error("--signing-alg")]
    SigningAlg(#[source] mcp_oauth_server::keys::UnknownAlgorithm),
    /// The key-encryption key is not 32 bytes of base64.
    #[error("MCP_OAUTH_KEY_ENCRYPTION_KEY")]
    KeyEncryptionKey(#[source] mcp_oauth_server::keys::BadKeyEncryptionKey),
    /// A configured client or upstream is invalid (the library's check
    /// reports it as text).
    #[error("{0}")]
    Invalid(String),
}

/// What goes into a [`ServerConfig`] once the issuer is known.
pub(crate) struct ServerConfigParts {
    /// The merged settings (secrets from files already in).
    options: Options,
    superuser: Option<(String, String)>,
    dev_auto_approve: Option<String>,
}

impl ServerConfigParts {
    /// The parts from the merged settings.
    pub(super) fn new(
        options: Options,
        superuser: Option<(String, String)>,
        dev_auto_approve: Option<String>,
    ) -> Self {
        Self {
            options,
            superuser,
            dev_auto_approve,
        }
    }

    /// Whether a superuser is configured.
    pub(crate) fn has_superuser(&self) -> bool {
        self.superuser.is_some()
    }

    /// Sets the superuser (used for the generated first-start one).
    pub(crate) fn set_superuser(&mut self, username: String, password: String) {
        self.superuser = Some((username, password));
    }

    /// Builds the server configuration for `issuer`.
    pub(crate) fn build(&self, issuer: &str) -> Result<ServerConfig, ConfigError> {
        let issuer = Issuer::parse(issuer).map_err(ConfigError::Issuer)?;
        let o = &self.options;
        let mut c = ServerConfig::new(issuer);
        if let Some((u, p)) = &self.superuser {
            c = c.superuser(u.clone(), Password::new(p.clone()));
        }
        let secs = Duration::from_secs;
        if let Some(v) = o.access_token_ttl {
            c.access_token_ttl = secs(v.max(1));
        }
        if let Some(alg) = &o.signing_alg {
            c.keys.algorithm = alg.parse().map_err(ConfigError::SigningAlg)?;
        }
        if let Some(days) = o.key_rotation_days {
            c.keys.rotation = (days > 0).then(|| secs(days.saturating_mul(86_400)));
        }
        if let Some(hours) = o.key_publish_ahead_hours {
            c.keys.publish_ahead = secs(hours.saturating_mul(3600));
        }
        if let Ok(kek) = std::env::var(KEY_ENCRYPTION_KEY_VAR) {
            c.keys.encryption_key =
                Some(KeyEncryptionKey::from_base64(&kek).map_err(ConfigError::KeyEncryptionKey)?);
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
                    return Err(ConfigError::Scope(s.clone()));
                }
            }
            c = c.scopes(scopes.clone());
        }
        if let Some(list) = &o.allowed_resources {
            let parsed = list
                .iter()
                .map(|r| {
                    ResourceUri::parse(r).map_err(|source| ConfigError::AllowedResource {
                        value: r.clone(),
                        source,
                    })
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
        if let Some(days) = o.dcr_idle_days {
            c.dcr_idle_days = days;
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
            client.validate().map_err(ConfigError::Invalid)?;
        }
        if let Some(token) = &o.metrics_token {
            if token.len() < 16 {
                return Err(ConfigError::ShortMetricsToken);
            }
            c = c.metrics_token(token.clone());
        }
        if let Some(token) = &o.admin_token {
            if token.chars().count() < mcp_oauth_server::AdminApi::MIN_TOKEN_LEN {
                return Err(ConfigError::ShortAdminToken);
            }
            c = c.admin_token(token.clone());
        }
        c = c.admin_bearer_tokens(o.admin_bearer_tokens);
        c.audit_log = o.audit_log.as_deref().map(|to| match to {
            "stdout" | "-" => AuditLog::Stdout,
            path => AuditLog::File(path.into()),
        });
        if let Some(days) = o.audit_retention_days {
            c.audit_retention = secs(days.max(1).saturating_mul(86_400));
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
                .map_err(|source| ConfigError::TrustedProxy {
                    value: cidr.clone(),
                    source,
                })?;
            c.trusted_proxies.push(net);
        }
        if let Some(h) = &o.proxy_header {
            c.proxy_header = h.parse().map_err(ConfigError::ProxyHeader)?;
        }
        if let Some(n) = o.cimd_fetches_per_minute {
            c.cimd.fetches_per_minute = n;
        }
        if let Some(n) = o.max_connections {
            c.limits.max_connections = Some(n.max(1));
        }
        if let Some(hosts) = &o.cimd_allowed_hosts {
            if let Some(bad) = hosts.iter().find(|h| !host_pattern_ok(h)) {
                return Err(ConfigError::CimdHost(bad.clone()));
            }
            c.cimd.allowed_hosts = hosts.clone();
        }
        c.cimd.fetch.allow_private_addresses = o.cimd_allow_private;
        c.cimd.fetch.allow_any_port = o.cimd_allow_private;
        c.dev_auto_approve = self.dev_auto_approve.clone();
        c.local_login = !o.disable_local_login;
        c.device_flow = !o.disable_device_flow;
        c.oidc = !o.disable_oidc;
        for u in &o.upstreams {
            u.validate().map_err(ConfigError::Invalid)?;
        }
        c.upstreams = o.upstreams.clone();
        for idp in &o.trusted_idps {
            idp.validate().map_err(ConfigError::Invalid)?;
        }
        c.trusted_idps = o.trusted_idps.clone();
        c.exchange.id_jag_audiences = o.id_jag_audiences.clone();
        c.exchange.token_exchange = o.token_exchange.clone();
        c.exchange.validate().map_err(ConfigError::Invalid)?;
        Ok(c)
    }
}

/// `ID:SECRET:RESOURCE` credentials as resource-server clients (one per
/// ID, serving every resource named for it).
fn resource_servers(credentials: &[String]) -> Result<Vec<OperatorClient>, ConfigError> {
    let mut out: Vec<OperatorClient> = Vec::new();
    for cred in credentials {
        let mut parts = cred.splitn(3, ':');
        let (Some(id), Some(secret), Some(resource)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ConfigError::CredentialShape);
        };
        let resource =
            ResourceUri::parse(resource).map_err(|source| ConfigError::CredentialResource {
                id: id.to_owned(),
                resource: resource.to_owned(),
                source,
            })?;
        match out.iter_mut().find(|c| c.client_id == id) {
            Some(c) => c.resources.push(resource.as_str().to_owned()),
            None => out.push(OperatorClient::resource_server(id, secret, [resource])),
        }
    }
    Ok(out)
}

/// Whether `entry` is a host name or address (`app.example.com`) or a
/// suffix pattern (`*.example.com`).
fn host_pattern_ok(entry: &str) -> bool {
    let host = entry.strip_prefix("*.").unwrap_or(entry);
    !host.is_empty()
        && !host.contains('*')
        && url::Host::parse(host).is_ok()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'))
}
