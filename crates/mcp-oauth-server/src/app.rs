//! The composition root: an [`AuthServer`] is built once from a
//! [`ServerConfig`] and a [`Storage`], holds the services the endpoints
//! call, and owns the background maintenance task. The HTTP layer
//! ([`crate::configure`], [`crate::serve`]) sits on top of it.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use mcp_oauth_core::metadata::AuthorizationServerMetadata;
use mcp_oauth_core::token::AccessTokenClaims;

use crate::cache::Expiring;
use crate::cimd::CimdResolver;
use crate::clock::{Clock, SystemClock};
use crate::config::ServerConfig;
use crate::federation::Federation;
use crate::federation::trusted_idp::TrustedIdps;
use crate::keys::{KeyError, KeyManager, Rotation, Withdrawal};
use crate::metrics::Metrics;
use crate::oauth::access_tokens::AccessTokens;
use crate::oauth::accounts::Accounts;
use crate::oauth::audit::{AuditKind, Auditor};
use crate::oauth::clients::{ClientLookupError, Clients};
use crate::oauth::device::DeviceAuthorization;
use crate::oauth::grants::GrantContext;
use crate::oauth::grants::revoke::Revoked;
use crate::oauth::login::PasswordLogin;
use crate::oauth::registration::Registration;
use crate::startup::{StartError, build_metadata, check_auto_approve, ensure_superuser};
use crate::storage::{ClientRecord, Storage, StorageError};

/// Bytes of verified session cookies kept in memory.
const SESSION_CACHE_BYTES: u64 = 4 * 1024 * 1024;
/// How often the maintenance task runs.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

/// Most idle registrations one round of maintenance deletes (the rest go
/// in the next rounds).
const REAP_BATCH: usize = 500;

/// The authorization server: its configuration, storage, keys and
/// services, shared by every worker. Build it with [`AuthServer::new`],
/// then serve it with [`crate::serve`] or mount it with
/// [`crate::configure`].
///
/// ```
/// use std::sync::Arc;
/// use mcp_oauth_server::{AuthServer, ServerConfig};
/// use mcp_oauth_server::core::issuer::Issuer;
/// use mcp_oauth_server::storage::MemoryStorage;
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 1)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ServerConfig::new(Issuer::parse("http://127.0.0.1:9000")?)
///     .superuser("admin", "a long passphrase".into());
/// let server = AuthServer::new(config, Arc::new(MemoryStorage::new())).await?;
/// assert_eq!(server.metadata().issuer, "http://127.0.0.1:9000");
/// assert!(server.storage().user("admin").await?.is_some());
/// # Ok(()) }
/// ```
pub struct AuthServer {
    pub(crate) config: ServerConfig,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) keys: KeyManager,
    /// The metadata document, built once.
    pub(crate) metadata: AuthorizationServerMetadata,
    pub(crate) metrics: Metrics,
    pub(crate) clock: Arc<dyn Clock>,
    /// Client lookup (configuration, storage, metadata documents) and
    /// authentication.
    clients: Clients,
    /// Access tokens verified once, and the key reload throttle.
    access_tokens: AccessTokens,
    /// Login session cookies whose signature was checked, by SHA-256 of
    /// the cookie. A returning browser then costs a hash and a lookup, not
    /// an ES256 verification, on every authorization (the session's record
    /// in storage is still read: ending it takes effect at once).
    pub(crate) sessions: Expiring<crate::oauth::login::SessionClaims>,
    /// The upstream identity providers.
    pub(crate) federation: Federation,
    /// The enterprise providers whose identity assertion grants are
    /// accepted.
    trusted_idps: TrustedIdps,
    /// The audit trail's writer.
    audit: Auditor,
}

impl AuthServer {
    /// Prepares the server on the system clock: loads or creates signing
    /// keys and creates or updates the configured superuser.
    pub async fn new(
        config: ServerConfig,
        storage: Arc<dyn Storage>,
    ) -> Result<Arc<Self>, StartError> {
        Self::with_clock(config, storage, Arc::new(SystemClock)).await
    }

    /// [`AuthServer::new`] on a clock of the caller's (tests that move
    /// time, or a host with a clock of its own).
    pub async fn with_clock(
        config: ServerConfig,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, StartError> {
        let now = clock.now();
        let max_life = config.access_token_ttl.as_secs();
        let keys = KeyManager::load_or_create(
            storage.as_ref(),
            config.issuer.as_str(),
            config.keys.clone(),
            max_life,
            now,
        )
        .await?;
        if config
            .admin
            .token
            .as_ref()
            .is_some_and(|t| t.secret().chars().count() < crate::config::AdminApi::MIN_TOKEN_LEN)
        {
            return Err(StartError::Config(format!(
                "the admin token must have at least {} characters",
                crate::config::AdminApi::MIN_TOKEN_LEN
            )));
        }
        ensure_superuser(&config, storage.as_ref(), now).await?;
        check_auto_approve(&config, storage.as_ref()).await?;
        if !config.local_login && config.upstreams.is_empty() {
            return Err(StartError::Config(
                "local login is off and no upstream is configured: nobody could sign in".into(),
            ));
        }
        let federation = Federation::new(&config.upstreams, config.keys.encryption_key.as_ref())
            .map_err(StartError::Config)?;
        let trusted_idps = TrustedIdps::new(&config.trusted_idps, &config.upstreams, clock.clone())
            .map_err(StartError::Config)?;
        config.exchange.validate().map_err(StartError::Config)?;
        // The tokens of providers no longer configured, or no longer
        // keeping them, are of no use to anyone: forget them.
        let keeping: Vec<String> = config
            .upstreams
            .iter()
            .filter(|u| u.store_tokens)
            .map(|u| u.id.clone())
            .collect();
        let forgotten =
            crate::storage::VaultStore::retain_upstream_tokens(storage.as_ref(), &keeping).await?;
        if forgotten > 0 {
            tracing::info!(
                forgotten,
                "deleted the kept tokens of providers that no longer keep them"
            );
        }
        let mut configured = HashMap::new();
        for c in &config.clients {
            c.validate().map_err(StartError::Config)?;
            if configured
                .insert(c.client_id.clone(), c.to_record(now))
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
        tokio::task::spawn_blocking(crate::password::dummy_hash).await?;
        // The ID token algorithms: those of the published keys (the signing
        // one first) and the one the policy moves to, if it differs.
        let mut id_algs = keys.published_algs();
        if !id_algs.contains(&config.keys.algorithm) {
            id_algs.push(config.keys.algorithm);
        }
        let metadata = build_metadata(&config, &id_algs);
        let audit = Auditor::new(storage.clone(), clock.clone(), config.audit_log.as_ref())
            .map_err(|source| StartError::AuditLog {
                path: match &config.audit_log {
                    Some(crate::config::AuditLog::File(path)) => path.clone(),
                    _ => "stdout".into(),
                },
                source,
            })?;
        let cimd = CimdResolver::new(config.cimd.clone())?;
        let clients = Clients::new(
            configured,
            cimd,
            storage.clone(),
            clock.clone(),
            &config.issuer,
        );
        Ok(Arc::new(Self {
            audit,
            federation,
            trusted_idps,
            metrics: Metrics::default(),
            clients,
            access_tokens: AccessTokens::new(),
            sessions: Expiring::new(SESSION_CACHE_BYTES),
            clock,
            config,
            storage,
            keys,
            metadata,
        }))
    }

    /// Its configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Its storage.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// Its signing keys.
    pub fn keys(&self) -> &KeyManager {
        &self.keys
    }

    /// Its RFC 8414 metadata document.
    pub fn metadata(&self) -> &AuthorizationServerMetadata {
        &self.metadata
    }

    /// Its Prometheus counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Its audit trail's writer.
    pub fn audit(&self) -> &Auditor {
        &self.audit
    }

    /// The current time of its clock, in seconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Client lookup and authentication.
    pub(crate) fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Revocation answers kept while storage is unchanged (introspection).
    pub(crate) fn live_tokens(&self) -> &crate::oauth::access_tokens::LiveTokens {
        self.access_tokens.live()
    }

    /// What the token endpoint's grants use.
    pub(crate) fn grants(&self) -> GrantContext<'_> {
        GrantContext {
            storage: self.storage.as_ref(),
            config: &self.config,
            keys: &self.keys,
            federation: &self.federation,
            trusted_idps: &self.trusted_idps,
            metrics: &self.metrics,
            clock: self.clock.as_ref(),
            audit: &self.audit,
        }
    }

    /// Dynamic client registration with this server's policy.
    pub(crate) fn registration(&self) -> Registration<'_> {
        Registration {
            storage: self.storage.as_ref(),
            config: &self.config,
            metrics: &self.metrics,
            audit: &self.audit,
        }
    }

    /// Device authorization (RFC 8628) with this server's lifetimes.
    pub(crate) fn device_authorization(&self) -> DeviceAuthorization<'_> {
        DeviceAuthorization {
            storage: self.storage.as_ref(),
            config: &self.config,
            audit: &self.audit,
        }
    }

    /// Grants, sessions and the audit trail, for operators and people.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts {
            storage: self.storage.as_ref(),
            audit: &self.audit,
            clock: self.clock.as_ref(),
        }
    }

    /// Password sign-in with this server's limits.
    pub(crate) fn password_login(&self) -> PasswordLogin<'_> {
        PasswordLogin {
            storage: self.storage.as_ref(),
            limits: self.config.login_limits,
            metrics: &self.metrics,
            audit: &self.audit,
        }
    }

    /// The claims of an access token this server (or another instance
    /// sharing its storage) issued, if its signature and lifetime are
    /// valid. A token signed with a key this instance has not loaded yet
    /// triggers a reload from storage, at most every 10 seconds. Revocation
    /// is not checked here.
    pub async fn verify_access_token(&self, token: &str) -> Option<AccessTokenClaims> {
        self.verified_access_token(token)
            .await
            .map(std::sync::Arc::unwrap_or_clone)
    }

    /// [`AuthServer::verify_access_token`], sharing the cached claims.
    pub(crate) async fn verified_access_token(
        &self,
        token: &str,
    ) -> Option<std::sync::Arc<AccessTokenClaims>> {
        self.access_tokens
            .verify(&self.keys, self.storage.as_ref(), self.now(), token)
            .await
    }

    /// Generates the next signing key, published at once. It signs after
    /// the policy's `publish_ahead` (a day by default), or at once with
    /// `immediate` (for a key no longer trusted), here and at every other
    /// instance within a minute of that time; the previous key stops
    /// signing then and stays published until its tokens expire
    /// ([`KeyManager::rotate`]).
    pub async fn rotate_signing_key(&self, immediate: bool) -> Result<Rotation, KeyError> {
        self.keys
            .rotate(self.storage.as_ref(), self.now(), immediate)
            .await
    }

    /// Withdraws the retired signing key `kid`: published no more, its
    /// tokens no longer verify here at once, at other instances within a
    /// minute ([`KeyManager::withdraw`]).
    pub async fn retire_signing_key(&self, kid: &str) -> Result<Withdrawal, KeyError> {
        self.keys
            .withdraw(self.storage.as_ref(), kid, self.now())
            .await
    }

    /// Revokes an access token (by `jti`, until it expires) or a refresh
    /// token (its whole family). With `owner`, only that client's tokens
    /// are touched.
    pub async fn revoke_token(
        &self,
        token: &str,
        owner: Option<&str>,
    ) -> Result<Revoked, StorageError> {
        let verified = self.verify_access_token(token).await;
        crate::oauth::grants::revoke::revoke(
            self.storage.as_ref(),
            verified,
            token,
            owner,
            self.now(),
        )
        .await
    }

    /// The client a `client_id` names: one of the configuration, a
    /// registered one, or, for an HTTPS URL, the one its metadata document
    /// describes.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, ClientLookupError> {
        self.clients.get(client_id).await
    }

    /// Starts the background task that, every minute and off the request
    /// path, runs [`AuthServer::maintain`]. The task holds the server
    /// weakly and ends once the server is dropped.
    pub fn spawn_maintenance(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let server = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MAINTENANCE_INTERVAL);
            loop {
                tick.tick().await;
                let Some(server) = Weak::upgrade(&server) else {
                    return;
                };
                server.maintain().await;
            }
        })
    }

    /// One round of maintenance, as the background task runs it every
    /// minute: deletes expired codes, refresh tokens, revocations, old
    /// audit events, registrations nobody used and
    /// registrations idle for [`ServerConfig::dcr_idle_days`]; publishes the next
    /// signing key when the rotation schedule says so (one instance of
    /// several does); reloads the signing keys (another instance may have
    /// rotated them, or the next key's time to sign may have come). Hosts
    /// with a scheduler of their own, and tests that move the clock, call
    /// it directly.
    pub async fn maintain(&self) {
        let now = self.now();
        let retention = self.config.refresh_token_ttl.as_secs();
        if let Err(e) = self.storage.purge_expired(now, retention).await {
            tracing::warn!(error = %e, "purging expired records failed");
        }
        let audit_before = now.saturating_sub(self.config.audit_retention.as_secs());
        if let Err(e) = self.storage.purge_audit(audit_before).await {
            tracing::warn!(error = %e, "purging old audit events failed");
        }
        let unused_before = now.saturating_sub(self.config.unused_client_ttl.as_secs());
        match self
            .storage
            .purge_unused_clients(unused_before, usize::MAX)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(clients = n, "deleted registrations nobody used"),
            Err(e) => tracing::warn!(error = %e, "purging unused clients failed"),
        }
        self.reap_idle_clients(now).await;
        match self.keys.maintain(self.storage.as_ref(), now).await {
            Ok(Some(next)) => tracing::info!(
                kid = %next.kid,
                activates_at = next.activates_at,
                "published the next signing key"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "signing-key upkeep failed"),
        }
    }

    /// Deletes, with their grants, the clients of dynamic registration no
    /// token was issued to for [`ServerConfig::dcr_idle_days`] (never the
    /// operator's; nothing when it is 0), a batch at a time.
    async fn reap_idle_clients(&self, now: u64) {
        let days = self.config.dcr_idle_days;
        if days == 0 {
            return;
        }
        let idle_before = now.saturating_sub(days.saturating_mul(86_400));
        match self
            .storage
            .reap_idle_clients(idle_before, now, REAP_BATCH)
            .await
        {
            Ok(ids) => {
                if !ids.is_empty() {
                    tracing::info!(clients = ids.len(), "deleted idle registrations");
                }
                for id in ids {
                    let entry = AuditKind::ClientRemoved.entry().subject(&id);
                    self.audit.record(entry.detail("by", "idle_reaping")).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reaping idle clients failed"),
        }
    }

    /// Brings the cache gauges of [`Metrics`] up to date.
    pub async fn update_cache_metrics(&self) {
        let m = &self.metrics;
        m.cache("verified_tokens", self.access_tokens.cached(), None);
        m.cache("sessions", self.sessions.size(), None);
        let cimd = self.clients.cimd();
        m.cache(
            "client_documents",
            cimd.cached().await,
            Some(cimd.fetches()),
        );
        let key_sets = self.clients.key_sets();
        m.cache(
            "client_keys",
            key_sets.size().await,
            Some(key_sets.fetches()),
        );
    }

    /// `{issuer}{path}`.
    pub fn endpoint(&self, path: &str) -> String {
        self.config.issuer.endpoint(path)
    }
}
