//! What [`AuthServer::new`](crate::AuthServer::new) checks and builds
//! before the server exists: the superuser, the development auto-approval,
//! the metadata document; and how starting fails.

use mcp_oauth_core::metadata::AuthorizationServerMetadata;
use mcp_oauth_core::registration::{ClientAuthMethod, GrantType, ResponseType};

use crate::admin::UserError;
use crate::config::ServerConfig;
use crate::fetch::FetchError;
use crate::keys::KeyError;
use crate::storage::{Storage, StorageError};

/// Starting the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Keys could not be loaded or generated.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The configured superuser could not be saved.
    #[error("could not save the superuser")]
    Superuser(#[source] UserError),
    /// A background task (hashing, serving) failed.
    #[error("a background task failed")]
    Task(#[from] tokio::task::JoinError),
    /// The outbound fetcher (metadata documents, key sets) could not be
    /// built.
    #[error("could not build the outbound fetcher")]
    Fetch(#[from] FetchError),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding or serving failed.
    #[error("could not serve")]
    Io(#[from] std::io::Error),
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The audit log file could not be opened.
    #[error("could not open the audit log {path}")]
    AuditLog {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Creates or updates the configured superuser; an unchanged password is
/// not hashed again.
pub(crate) async fn ensure_superuser(
    config: &ServerConfig,
    storage: &dyn Storage,
    now: u64,
) -> Result<(), StartError> {
    let Some((username, password)) = &config.superuser else {
        return Ok(());
    };
    crate::admin::check_username(username)
        .map_err(|e| StartError::Config(format!("superuser: {e}")))?;
    let current = storage.user(username).await?;
    let unchanged = current
        .as_ref()
        .is_some_and(|u| crate::password::verify_password(password.secret(), &u.password_hash));
    if !unchanged {
        crate::admin::set_password(storage, username, password.secret(), now)
            .await
            .map_err(|e| match e {
                UserError::Storage(e) => StartError::Storage(e),
                other => StartError::Superuser(other),
            })?;
    }
    Ok(())
}

/// `dev_auto_approve` is for tests: a loopback plain-http issuer and an
/// existing user, or nothing.
pub(crate) async fn check_auto_approve(
    config: &ServerConfig,
    storage: &dyn Storage,
) -> Result<(), StartError> {
    let Some(user) = &config.dev_auto_approve else {
        return Ok(());
    };
    // A loopback listener behind a public proxy would approve anyone on
    // the internet: the issuer must be loopback too.
    let loopback = url::Url::parse(config.issuer.as_str())
        .is_ok_and(|u| u.scheme() == "http" && mcp_oauth_core::redirect::is_loopback(&u));
    if !loopback {
        return Err(StartError::Config(format!(
            "dev_auto_approve approves every request without a person and is for tests \
             only: refusing it with the issuer {}, which is not a plain-http loopback URL",
            config.issuer.as_str()
        )));
    }
    if storage.user(user).await?.is_none() {
        return Err(StartError::Config(format!(
            "dev_auto_approve names no existing user ({user:?})"
        )));
    }
    Ok(())
}

/// The metadata document, served at the RFC 8414 and the OpenID Connect
/// well-known paths alike. With OpenID Connect on it also carries what
/// OpenID Connect Discovery 1.0 §3 requires of a provider (RFC 8414 §2
/// registers these names for OAuth metadata too): the UserInfo endpoint,
/// `subject_types_supported`, the ID token signing algorithms (`id_algs`,
/// those the key manager may sign with), the claims and the `openid`
/// scopes.
pub(crate) fn build_metadata(
    config: &ServerConfig,
    id_algs: &[crate::keys::SigningAlgorithm],
) -> AuthorizationServerMetadata {
    let issuer = &config.issuer;
    let auth_methods = vec![
        ClientAuthMethod::None,
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::PrivateKeyJwt,
    ];
    let mut grant_types = vec![
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];
    if config.device_flow {
        grant_types.push(GrantType::DeviceCode);
    }
    if !config.trusted_idps.is_empty() {
        grant_types.push(GrantType::JwtBearer);
    }
    // Token exchange: configured under `[exchange]`, or for a provider's
    // tokens (`[[upstreams]]` with `exchange_clients`).
    let upstream_exchange = config
        .upstreams
        .iter()
        .any(|u| u.store_tokens && !u.exchange_clients.is_empty());
    if !config.exchange.is_empty() || upstream_exchange {
        grant_types.push(GrantType::TokenExchange);
    }
    AuthorizationServerMetadata {
        issuer: issuer.as_str().to_owned(),
        device_authorization_endpoint: config
            .device_flow
            .then(|| issuer.endpoint("/device_authorization")),
        authorization_endpoint: Some(issuer.endpoint("/authorize")),
        token_endpoint: Some(issuer.endpoint("/token")),
        jwks_uri: Some(issuer.endpoint("/jwks")),
        registration_endpoint: Some(issuer.endpoint("/register")),
        scopes_supported: Some(config.advertised_scopes()),
        response_types_supported: Some(vec![ResponseType::Code]),
        response_modes_supported: Some(vec!["query".to_owned()]),
        grant_types_supported: Some(grant_types),
        token_endpoint_auth_methods_supported: Some(auth_methods.clone()),
        token_endpoint_auth_signing_alg_values_supported: Some(
            crate::oauth::clients::assertion::ASSERTION_ALGS
                .iter()
                .map(|a| format!("{a:?}"))
                .collect(),
        ),
        revocation_endpoint: Some(issuer.endpoint("/revoke")),
        revocation_endpoint_auth_methods_supported: Some(auth_methods),
        introspection_endpoint: Some(issuer.endpoint("/introspect")),
        introspection_endpoint_auth_methods_supported: Some(vec![
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
        ]),
        code_challenge_methods_supported: Some(vec!["S256".to_owned()]),
        client_id_metadata_document_supported: Some(config.cimd.enabled),
        authorization_response_iss_parameter_supported: Some(true),
        userinfo_endpoint: config.oidc.then(|| issuer.endpoint("/userinfo")),
        subject_types_supported: config.oidc.then(|| vec!["public".to_owned()]),
        id_token_signing_alg_values_supported: config
            .oidc
            .then(|| id_algs.iter().map(|a| a.as_str().to_owned()).collect()),
        claims_supported: config.oidc.then(|| {
            crate::oauth::oidc::claims::CLAIMS_SUPPORTED
                .iter()
                .map(|c| (*c).to_owned())
                .collect()
        }),
        ..Default::default()
    }
}
