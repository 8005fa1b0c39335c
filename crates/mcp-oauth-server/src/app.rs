//! The application: shared state, route table, and the server runner.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use mcp_oauth_core::metadata::AuthorizationServerMetadata;
use mcp_oauth_core::registration::{ClientAuthMethod, GrantType, ResponseType};

use crate::config::ServerConfig;
use crate::endpoints;
use crate::keys::{KeyError, KeyManager};
use crate::storage::{Storage, StorageError};

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

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
    /// The superuser password could not be hashed.
    #[error("could not hash the superuser password: {0}")]
    Password(String),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding or serving failed.
    #[error("could not serve: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything the endpoints share.
pub struct AppState {
    /// Configuration.
    pub config: ServerConfig,
    /// Storage backend.
    pub storage: Arc<dyn Storage>,
    /// Signing keys.
    pub keys: KeyManager,
    /// The metadata document, built once.
    pub metadata: AuthorizationServerMetadata,

    /// Prometheus counters.
    pub metrics: crate::metrics::Metrics,
    /// Client ID Metadata Document fetcher and cache.
    pub cimd: crate::cimd::CimdResolver,
    last_key_reload: parking_lot::Mutex<std::time::Instant>,
    /// Access tokens this server verified, by SHA-256, until they expire:
    /// introspecting a token again costs a hash and a lookup instead of a
    /// signature verification. Revocation is still checked every time.
    verified: mcp_oauth_core::cache::TtlCache<mcp_oauth_core::token::AccessTokenClaims>,
    /// Login sessions whose signature was checked, by SHA-256 of the cookie:
    /// (user, expiry, auth time, generation). A returning browser then costs a hash
    /// and a lookup, not an ES256 verification, on every authorization.
    pub(crate) sessions: mcp_oauth_core::cache::TtlCache<(String, u64, u64, u64)>,
    /// The upstream identity providers.
    pub(crate) federation: crate::federation::Federation,
    /// The clients of the configuration, by id (trusted).
    configured_clients: std::collections::HashMap<String, crate::storage::ClientRecord>,
}

/// A client could not be looked up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientLookupError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The client's metadata document could not be used.
    #[error(transparent)]
    Metadata(#[from] crate::cimd::CimdError),
}

impl AppState {
    /// Prepares the state: loads or creates signing keys and creates or
    /// updates the configured superuser.
    pub async fn new(
        config: ServerConfig,
        storage: Arc<dyn Storage>,
    ) -> Result<Arc<Self>, StartError> {
        let max_life = config.access_token_ttl.as_secs();
        let keys =
            KeyManager::load_or_create(storage.as_ref(), config.issuer.as_str(), max_life, now())
                .await?;
        if let Some((username, password)) = &config.superuser {
            crate::admin::check_username(username)
                .map_err(|e| StartError::Config(format!("superuser: {e}")))?;
            let current = storage.user(username).await?;
            let unchanged = current.as_ref().is_some_and(|u| {
                crate::password::verify_password(password.secret(), &u.password_hash)
            });
            if !unchanged {
                crate::admin::set_password(storage.as_ref(), username, password.secret(), now())
                    .await
                    .map_err(|e| match e {
                        crate::admin::UserError::Storage(e) => StartError::Storage(e),
                        other => StartError::Password(other.to_string()),
                    })?;
            }
        }
        if let Some(user) = &config.dev_auto_approve
            && storage.user(user).await?.is_none()
        {
            return Err(StartError::Config(format!(
                "dev_auto_approve names no existing user ({user:?})"
            )));
        }
        if !config.local_login && config.upstreams.is_empty() {
            return Err(StartError::Config(
                "local login is off and no upstream is configured: nobody could sign in".into(),
            ));
        }
        let federation =
            crate::federation::Federation::new(&config.upstreams).map_err(StartError::Config)?;
        let mut configured_clients = std::collections::HashMap::new();
        for c in &config.clients {
            c.validate().map_err(StartError::Config)?;
            if configured_clients
                .insert(c.client_id.clone(), c.to_record(now()))
                .is_some()
            {
                return Err(StartError::Config(format!(
                    "client {} is configured twice",
                    c.client_id
                )));
            }
        }
        // The hash unknown users are checked against, made now on a
        // blocking thread rather than by the first such login on a server
        // thread (where it would stall every request for an Argon2 hash).
        tokio::task::spawn_blocking(crate::password::dummy_hash)
            .await
            .map_err(|e| StartError::Password(e.to_string()))?;
        let metadata = build_metadata(&config);
        Ok(Arc::new(Self {
            federation,
            metrics: crate::metrics::Metrics::default(),
            cimd: crate::cimd::CimdResolver::new(config.cimd.clone()),
            last_key_reload: parking_lot::Mutex::new(std::time::Instant::now()),
            verified: mcp_oauth_core::cache::TtlCache::new(100_000),
            sessions: mcp_oauth_core::cache::TtlCache::new(10_000),
            configured_clients,
            config,
            storage,
            keys,
            metadata,
        }))
    }

    /// Verifies an access token this server (or another instance sharing
    /// its storage) issued. A token signed with a key this instance has not
    /// loaded yet triggers a reload from storage, at most every 5 seconds.
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> Option<mcp_oauth_core::token::AccessTokenClaims> {
        let key = mcp_oauth_core::secret::token_hash(token);
        let t = now();
        if let Some(claims) = self.verified.get(&key, t) {
            return Some(claims);
        }
        if let Some(claims) = self.keys.verify(token) {
            self.verified.insert(key, claims.clone(), claims.exp, t);
            return Some(claims);
        }
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        if self.keys.knows(&kid) {
            return None;
        }
        {
            let mut last = self.last_key_reload.lock();
            if last.elapsed() < std::time::Duration::from_secs(5) {
                return None;
            }
            *last = std::time::Instant::now();
        }
        let max_life = self.config.access_token_ttl.as_secs();
        if let Err(e) = self
            .keys
            .reload(self.storage.as_ref(), max_life, now())
            .await
        {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        self.keys.verify(token)
    }

    /// Starts the background task that deletes expired codes, refresh
    /// tokens and revocations every minute, off the request path, and
    /// reloads the signing keys (another instance may have rotated them).
    pub fn spawn_maintenance(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let state = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                let retention = state.config.refresh_token_ttl.as_secs();
                if let Err(e) = state.storage.purge_expired(now(), retention).await {
                    tracing::warn!(error = %e, "purging expired records failed");
                }
                let max_life = state.config.access_token_ttl.as_secs();
                if let Err(e) = state
                    .keys
                    .reload(state.storage.as_ref(), max_life, now())
                    .await
                {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
            }
        })
    }

    /// The client a `client_id` names: one of the configuration, a
    /// registered one, or, for an HTTPS URL, the one its metadata document
    /// describes.
    pub async fn client(
        &self,
        client_id: &str,
    ) -> Result<Option<crate::storage::ClientRecord>, ClientLookupError> {
        if let Some(c) = self.configured_clients.get(client_id) {
            return Ok(Some(c.clone()));
        }
        if self.cimd.is_document_url(client_id) {
            return Ok(Some(self.cimd.resolve(client_id).await?));
        }
        Ok(self.storage.client(client_id).await?)
    }

    /// `{issuer}{path}`.
    pub fn endpoint(&self, path: &str) -> String {
        self.config.issuer.endpoint(path)
    }
}

fn build_metadata(config: &ServerConfig) -> AuthorizationServerMetadata {
    let issuer = &config.issuer;
    let auth_methods = vec![
        ClientAuthMethod::None,
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::PrivateKeyJwt,
    ];
    AuthorizationServerMetadata {
        issuer: issuer.as_str().to_owned(),
        authorization_endpoint: Some(issuer.endpoint("/authorize")),
        token_endpoint: Some(issuer.endpoint("/token")),
        jwks_uri: Some(issuer.endpoint("/jwks")),
        registration_endpoint: Some(issuer.endpoint("/register")),
        scopes_supported: Some(config.scopes_supported.clone()),
        response_types_supported: Some(vec![ResponseType::Code]),
        response_modes_supported: Some(vec!["query".to_owned()]),
        grant_types_supported: Some(vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ]),
        token_endpoint_auth_methods_supported: Some(auth_methods.clone()),
        token_endpoint_auth_signing_alg_values_supported: Some(
            crate::client_assertion::ASSERTION_ALGS
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
        ..Default::default()
    }
}

/// Mounts the authorization server's routes into an actix-web app. The
/// paths are relative to the issuer's path, so mount this at the scope
/// that matches the issuer URL.
pub fn configure(state: Arc<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let issuer_path = state
            .config
            .issuer
            .url()
            .path()
            .trim_end_matches('/')
            .to_owned();
        cfg.app_data(web::Data::from(state))
            .app_data(web::PayloadConfig::new(64 * 1024));
        endpoints::routes(cfg, &issuer_path);
    }
}

/// Starts the server on an already bound listener (use port 0 in tests).
/// A configuration with `dev_auto_approve` is refused unless the listener
/// is on a loopback address.
pub fn serve(state: Arc<AppState>, listener: TcpListener) -> Result<Server, StartError> {
    let addr = listener.local_addr()?;
    if state.config.dev_auto_approve.is_some() && !addr.ip().is_loopback() {
        return Err(StartError::Config(format!(
            "dev_auto_approve approves every request without a person and is for tests only: \
             refusing it on {addr}, which is not a loopback address"
        )));
    }
    let server = HttpServer::new(move || App::new().configure(configure(state.clone())))
        .listen(listener)?
        .run();
    Ok(server)
}
