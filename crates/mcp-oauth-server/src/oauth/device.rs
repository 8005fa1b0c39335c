//! Device authorization (RFC 8628 §3.1–3.3): a device asks for access and
//! gets a device code (kept as a hash) and a short user code; a person
//! types the user code on the verification page, sees what is asked, and
//! approves or denies. Looking up typed codes is throttled per address and
//! for the whole server, and a wrong, expired or already decided code all
//! read the same, so the page reveals nothing about other people's codes.

use mcp_oauth_core::device::{DeviceAuthorizationResponse, PollPace, UserCode};
use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
use mcp_oauth_core::registration::GrantType;
use mcp_oauth_core::resource::ResourceUri;
use mcp_oauth_core::scope::ScopeSet;
use mcp_oauth_core::secret::{DeviceCode, token_hash};

use crate::config::ServerConfig;
use crate::oauth::audit::AuditKind;
use crate::oauth::error::{OAuthError, OAuthResult};
use crate::oauth::grants::issue::{resource_allowed, scope_allowed};
use crate::oauth::login::SignedIn;
use crate::storage::{ClientRecord, DeviceRecord, DeviceState, GrantRecord, Storage, StorageError};

/// Typed user codes one address may look up per [`LOOKUP_WINDOW`].
const LOOKUPS_PER_ADDRESS: u32 = 20;
/// Typed user codes the whole server looks up per [`LOOKUP_WINDOW`].
const LOOKUPS_GLOBAL: u32 = 2_000;
/// The window of the lookup limits, in seconds.
const LOOKUP_WINDOW: u64 = 600;
/// New device authorizations one address may start per minute.
const STARTS_PER_ADDRESS: u32 = 30;
/// New device authorizations the whole server starts per minute: with the
/// 600 s lifetime and 600 s kept after expiry, at most about 40,000 stored
/// (a few MiB), however many addresses ask.
const STARTS_GLOBAL: u32 = 2_000;

/// What typing a user code led to.
pub(crate) enum Lookup {
    /// A live request nobody decided yet: show it to the person.
    Found(DeviceRecord),
    /// Malformed, unknown, expired or already decided: all alike.
    NotValid,
    /// Too many codes typed lately (from this address, or everywhere).
    Throttled { retry_after: u64 },
}

/// Device authorization: storage and the configuration's lifetimes.
pub(crate) struct DeviceAuthorization<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) config: &'a ServerConfig,
    pub(crate) audit: &'a crate::oauth::audit::Auditor,
}

impl DeviceAuthorization<'_> {
    /// Starts a device authorization for `client` (already authenticated)
    /// asking `scope` and `resource`, from `address` at `now`.
    pub(crate) async fn start(
        &self,
        client: &ClientRecord,
        scope: Option<&str>,
        resource: Option<&str>,
        address: &str,
        now: u64,
    ) -> OAuthResult<DeviceAuthorizationResponse> {
        if !client
            .metadata
            .effective_grant_types()
            .contains(&GrantType::DeviceCode)
        {
            return Err(ErrorResponse::new(ErrorCode::UnauthorizedClient)
                .with_description("this client may not use the device authorization grant")
                .into());
        }
        let limits = [
            (format!("device-start:{address}"), STARTS_PER_ADDRESS),
            ("device-start:*".to_owned(), STARTS_GLOBAL),
        ];
        if let Some(retry_after) = self.over_limit(&limits, 60, now).await? {
            return Err(OAuthError::too_many_requests(
                "too many device authorizations lately; try again later",
            )
            .with_retry_after(retry_after));
        }
        let scope = match scope.map(ScopeSet::parse).transpose() {
            Ok(Some(s)) if !s.is_empty() => s,
            Ok(_) => self.config.default_scope.clone(),
            Err(e) => return Err(ErrorResponse::invalid_scope(e.to_string()).into()),
        };
        scope_allowed(self.config, client, &scope)
            .map_err(|msg| OAuthError::from(ErrorResponse::invalid_scope(msg)))?;
        let resource = resource
            .map(ResourceUri::parse)
            .transpose()
            .map_err(|e| ErrorResponse::invalid_target(e.to_string()))?;
        if let Some(r) = &resource
            && !resource_allowed(self.config, client, r)
        {
            return Err(ErrorResponse::invalid_target(
                "this resource is not served by this authorization server",
            )
            .into());
        }
        let device_code = DeviceCode::generate()
            .map_err(|e| OAuthError::from(ErrorResponse::server_error(e.to_string())))?;
        let ttl = self.config.device_code_ttl.as_secs();
        let interval = self.config.device_poll_interval.as_secs().max(1);
        // A user code may collide with a live one (about 2^34 codes): draw
        // again.
        for _ in 0..5 {
            let user_code = UserCode::generate()
                .map_err(|e| OAuthError::from(ErrorResponse::server_error(e.to_string())))?;
            let record = DeviceRecord {
                device_code_hash: token_hash(device_code.secret()),
                user_code: user_code.as_str().to_owned(),
                client_id: client.client_id.clone(),
                scope: scope.to_string(),
                resource: resource.as_ref().map(|r| r.as_str().to_owned()),
                expires_at: now + ttl,
                pace: PollPace::new(interval),
                state: DeviceState::Pending,
            };
            match self.storage.insert_device(record).await {
                Ok(()) => {
                    let page = self.config.issuer.endpoint("/device");
                    tracing::info!(client_id = ?client.client_id, "device authorization started");
                    return Ok(DeviceAuthorizationResponse {
                        device_code: device_code.secret().to_owned(),
                        verification_uri_complete: Some(format!("{page}?user_code={user_code}")),
                        user_code: user_code.as_str().to_owned(),
                        verification_uri: page,
                        expires_in: ttl,
                        interval,
                    });
                }
                Err(StorageError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ErrorResponse::new(ErrorCode::TemporarilyUnavailable)
            .with_description("no free user code; try again")
            .into())
    }

    /// The request a person typed the code of, from `address` at `now`.
    /// Every attempt counts against the limits before the lookup.
    pub(crate) async fn lookup(
        &self,
        typed: &str,
        address: &str,
        now: u64,
    ) -> Result<Lookup, StorageError> {
        let limits = [
            (format!("device-code:{address}"), LOOKUPS_PER_ADDRESS),
            ("device-code:*".to_owned(), LOOKUPS_GLOBAL),
        ];
        if let Some(retry_after) = self.over_limit(&limits, LOOKUP_WINDOW, now).await? {
            tracing::warn!(%address, "user code lookups throttled");
            return Ok(Lookup::Throttled { retry_after });
        }
        let Some(code) = UserCode::parse(typed) else {
            return Ok(Lookup::NotValid);
        };
        Ok(
            match self.storage.device_by_user_code(code.as_str()).await? {
                Some(r) if crate::storage::policy::device_decidable(&r, now) => Lookup::Found(r),
                _ => Lookup::NotValid,
            },
        )
    }

    /// Counts one attempt against each `(counter, limit)` of a `window`
    /// (seconds) at `now`, atomically in storage; the seconds to wait when
    /// one is exceeded.
    async fn over_limit(
        &self,
        limits: &[(String, u32)],
        window: u64,
        now: u64,
    ) -> Result<Option<u64>, StorageError> {
        for (key, limit) in limits {
            let (count, start) = self.storage.bump_counter(key, now, window).await?;
            if count > *limit {
                return Ok(Some((start + window).saturating_sub(now).max(1)));
            }
        }
        Ok(None)
    }

    /// Records `who`'s decision on `record` (allowed or denied) at `now`,
    /// from `address`; whether it was still open. An approval records the
    /// grant (through the device flow); both go to the audit trail.
    pub(crate) async fn decide(
        &self,
        record: &DeviceRecord,
        who: &SignedIn,
        allowed: bool,
        address: &str,
        now: u64,
    ) -> Result<bool, StorageError> {
        let decision = if allowed {
            DeviceState::Approved {
                subject: who.subject.clone(),
                generation: who.generation,
                auth_time: who.auth_time,
                approved_at: now,
            }
        } else {
            DeviceState::Denied
        };
        if !self
            .storage
            .decide_device(&record.user_code, decision, now)
            .await?
        {
            return Ok(false);
        }
        let kind = if allowed {
            let grant = GrantRecord::new(
                &who.subject,
                &record.client_id,
                record.resource.as_deref(),
                &record.scope,
                who.method,
                now,
            );
            self.storage.record_grant(grant.through_device()).await?;
            AuditKind::DeviceApproved
        } else {
            AuditKind::DeviceDenied
        };
        let entry = kind.entry().user(&who.subject).client(&record.client_id);
        let entry = entry
            .address(address)
            .detail("scope", record.scope.as_str())
            .detail("resource", record.resource.as_deref().unwrap_or_default());
        self.audit.record(entry).await;
        Ok(true)
    }
}
