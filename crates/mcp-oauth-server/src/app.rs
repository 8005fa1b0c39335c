//! The application: shared state, route table, and the server runner.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use mcp_oauth_core::metadata::AuthorizationServerMetadata;
use mcp_oauth_core::registration::{ClientAuthMethod, GrantType, ResponseType};

use crate::config::ServerConfig;
use crate::http;
use crate::keys::{KeyError, KeyManager};
use crate::oauth::clients::ClientLookupError;
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

/// Bytes of verified access tokens kept in memory (about 20,000 tokens).
const VERIFIED_CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// Bytes of verified session cookies kept in memory.
const SESSION_CACHE_BYTES: u64 = 4 * 1024 * 1024;

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
    verified: crate::cache::Expiring<mcp_oauth_core::token::AccessTokenClaims>,
    /// Login sessions whose signature was checked, by SHA-256 of the cookie:
    /// (user, expiry, auth time, generation). A returning browser then costs a hash
    /// and a lookup, not an ES256 verification, on every authorization.
    pub(crate) sessions: crate::cache::Expiring<(String, u64, u64, u64)>,
    /// The key sets of `private_key_jwt` clients registered by URL.
    pub(crate) client_keys: crate::client_assertion::ClientKeySets,
    /// The upstream identity providers.
    pub(crate) federation: crate::federation::Federation,
    /// The clients of the configuration, by id (trusted).
    configured_clients: std::collections::HashMap<String, crate::storage::ClientRecord>,
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
        if let Some(user) = &config.dev_auto_approve {
            // A loopback listener behind a public proxy would approve
            // anyone on the internet: the issuer must be loopback too.
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
        let fetch_failed = |e: crate::fetch::FetchError| StartError::Config(e.to_string());
        let cimd = crate::cimd::CimdResolver::new(config.cimd.clone()).map_err(fetch_failed)?;
        let client_keys = crate::fetch::cache::FetchCache::new(cimd.fetcher().clone());
        Ok(Arc::new(Self {
            federation,
            metrics: crate::metrics::Metrics::default(),
            cimd,
            client_keys,
            last_key_reload: parking_lot::Mutex::new(std::time::Instant::now()),
            verified: crate::cache::Expiring::new(VERIFIED_CACHE_BYTES),
            sessions: crate::cache::Expiring::new(SESSION_CACHE_BYTES),
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
        if let Some(claims) = self.verified.get(&key).filter(|c| c.exp > t) {
            return Some(claims);
        }
        if let Some(claims) = self.keys.verify(token) {
            self.verified
                .insert(key, claims.clone(), 2 * token.len(), claims.exp, t);
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
    /// tokens, revocations and registrations nobody used every minute, off
    /// the request path, and
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
                let unused_before = now().saturating_sub(state.config.unused_client_ttl.as_secs());
                match state
                    .storage
                    .purge_unused_clients(unused_before, usize::MAX)
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(clients = n, "deleted registrations nobody used"),
                    Err(e) => tracing::warn!(error = %e, "purging unused clients failed"),
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

    /// [`AppState::client`] for a request from `address` that nobody has
    /// vouched for yet: a metadata document not already cached costs the
    /// address one of its new-document fetches
    /// ([`crate::cimd::CimdPolicy::fetches_per_minute`]), so one address
    /// cannot make the server fetch without bound.
    pub async fn client_for(
        &self,
        address: &str,
        client_id: &str,
    ) -> Result<Option<crate::storage::ClientRecord>, ClientLookupError> {
        if self.cimd.is_document_url(client_id)
            && !self.configured_clients.contains_key(client_id)
            && !self.cimd.is_cached(client_id)
        {
            let (count, start) = self
                .storage
                .bump_counter(&format!("fetch:{address}"), now(), 60)
                .await?;
            if count > self.config.cimd.fetches_per_minute {
                let retry_after = (start + 60).saturating_sub(now()).max(1);
                return Err(ClientLookupError::Throttled { retry_after });
            }
        }
        self.client(client_id).await
    }

    /// Brings the cache gauges of [`crate::metrics::Metrics`] up to date.
    pub async fn update_cache_metrics(&self) {
        let m = &self.metrics;
        m.cache("verified_tokens", self.verified.size(), None);
        m.cache("sessions", self.sessions.size(), None);
        m.cache(
            "client_documents",
            self.cimd.cached().await,
            Some(self.cimd.fetches()),
        );
        m.cache(
            "client_keys",
            self.client_keys.size().await,
            Some(self.client_keys.fetches()),
        );
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
            .app_data(web::PayloadConfig::new(crate::http::MAX_BODY_BYTES));
        http::routes(cfg, &issuer_path);
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
    let limits = state.config.limits;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_worker = limits
        .max_connections
        .unwrap_or_else(connections_from_descriptor_limit)
        .div_ceil(workers)
        .max(1);
    let server = HttpServer::new(move || App::new().configure(configure(state.clone())))
        .workers(workers)
        .client_request_timeout(limits.head_timeout)
        .client_disconnect_timeout(std::time::Duration::from_secs(2))
        .keep_alive(limits.keep_alive)
        .max_connections(per_worker)
        .backlog(1024)
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
    Ok(server)
}

/// Connections the process can hold: its file-descriptor limit, less a
/// quarter (at least 64) kept for storage, outbound fetches and the
/// listener, so that a flood of connections is queued by the kernel rather
/// than running the process out of descriptors.
fn connections_from_descriptor_limit() -> usize {
    #[cfg(unix)]
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| {
        usize::try_from(soft).unwrap_or(usize::MAX)
    });
    #[cfg(not(unix))]
    let limit = 8192;
    let reserve = (limit / 4).max(64);
    limit.saturating_sub(reserve).clamp(16, 25_000)
}
