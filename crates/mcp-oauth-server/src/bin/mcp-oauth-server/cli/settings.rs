//! Layering: flags and environment over the TOML file over defaults, then
//! the secrets given as files.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized};
use figment::value::{Dict, Value};
use mcp_oauth_core::secret::ClientSecret;
use mcp_oauth_server::OperatorClient;
use mcp_oauth_server::federation::UpstreamConfig;
use mcp_oauth_server::tls::TlsFiles;

use super::args::Cli;
use super::options::{LogFormat, Options};
use super::server_config::ServerConfigParts;
use crate::secret_files::{SecretFileError, StoragePasswordError};

/// The settings could not be gathered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    /// The configuration file or a secret file could not be used.
    #[error(transparent)]
    File(#[from] SecretFileError),
    /// A setting has the wrong type or an unknown key (the message names
    /// the key and where it came from).
    #[error(transparent)]
    Layers(Box<figment::Error>),
    /// The storage password could not be put into the storage URL.
    #[error(transparent)]
    StoragePassword(#[from] StoragePasswordError),
    /// A superuser name without a password, or the other way round.
    #[error("--superuser and --superuser-password go together")]
    SuperuserAlone,
    /// A TLS certificate without a key, or the other way round.
    #[error("--tls-cert and --tls-key go together")]
    TlsAlone,
}

impl From<figment::Error> for SettingsError {
    fn from(e: figment::Error) -> Self {
        Self::Layers(Box::new(e))
    }
}

/// Address the server listens on unless told otherwise.
const DEFAULT_HOST: &str = "127.0.0.1";
/// Port the server listens on unless told otherwise.
const DEFAULT_PORT: u16 = 9000;
/// Storage unless told otherwise.
const DEFAULT_STORAGE: &str = "sqlite:./mcp-oauth.db";
/// Log filter unless told otherwise.
const DEFAULT_LOG_LEVEL: &str = "info";

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
    /// The certificate and key to serve HTTPS with, if any.
    pub tls: Option<TlsFiles>,
    pub config_template: ServerConfigParts,
}

impl Cli {
    /// Lays flags and environment over the TOML file over defaults, then
    /// reads the secrets given as files.
    pub(crate) fn settings(&self) -> Result<Settings, SettingsError> {
        let mut o = layered(self.config.as_deref(), &self.options)?;
        let files = &self.secret_files;
        let from_file = |path: &Option<PathBuf>, what: &'static str| {
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
        if let Some(t) = from_file(&files.admin_token_file, "admin token file")? {
            o.admin_token = Some(t);
        }
        let mut storage = o.storage.take().unwrap_or_else(|| DEFAULT_STORAGE.into());
        if let Some(password) = from_file(&files.storage_password_file, "storage password file")? {
            storage = crate::secret_files::with_password(&storage, &password)?;
        }
        let superuser = match (o.superuser.take(), o.superuser_password.take()) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => return Err(SettingsError::SuperuserAlone),
        };
        let tls = match (o.tls_cert.take(), o.tls_key.take()) {
            (Some(cert), Some(key)) => Some(TlsFiles::new(cert, key)),
            (None, None) => None,
            _ => return Err(SettingsError::TlsAlone),
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
            tls,
            config_template: ServerConfigParts::new(o, superuser, self.dev_auto_approve.clone()),
        })
    }
}

/// The TOML file at `config` (if any) with `given` laid over it.
fn layered(config: Option<&Path>, given: &Options) -> Result<Options, SettingsError> {
    let mut figment = Figment::new();
    if let Some(path) = config {
        crate::secret_files::check_private(path, "configuration file")?;
        figment = figment.merge(Toml::file_exact(path));
    }
    Ok(figment
        .merge(Serialized::globals(present(given)?))
        .extract()?)
}

/// The settings that were given: a `None` or a switch left off must not
/// hide what the file says.
fn present(options: &Options) -> Result<Dict, SettingsError> {
    let Value::Dict(_, mut given) = Value::serialize(options)? else {
        return Ok(Dict::new());
    };
    given.retain(|_, v| !matches!(v, Value::Empty(..) | Value::Bool(_, false)));
    Ok(given)
}

/// Fills each upstream's missing client secret from
/// `MCP_OAUTH_UPSTREAM_{ID}_CLIENT_SECRET`, so the file need not hold it.
pub(super) fn with_secrets(
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
