//! The grants of the token endpoint, one file each: the authorization code
//! ([`code`]), the refresh token ([`refresh`]) and client credentials
//! ([`client_credentials`]), the device code ([`device`]), JWT
//! authorization grants ([`jwt_bearer`]) and token exchange ([`exchange`]),
//! and what they share: issuing tokens
//! ([`issue`]) and the checks that a grant's person still holds it.

pub(crate) mod client_credentials;
pub(crate) mod code;
pub(crate) mod device;
pub(crate) mod exchange;
pub(crate) mod introspection;
pub(crate) mod issue;
pub(crate) mod jwt_bearer;
pub(crate) mod refresh;
pub(crate) mod revoke;

use std::collections::BTreeMap;

use mcp_oauth_core::error::ErrorResponse;

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::federation::{Federation, admit, token_claims};
use crate::keys::KeyManager;
use crate::metrics::Metrics;
use crate::oauth::error::OAuthResult;
use crate::storage::{ClientRecord, Storage};

/// How often the last use of a registered client is recorded at most
/// (a day): idle reaping counts in days, so this keeps the writes to one
/// per client per day.
pub(crate) const USE_RECORDING_PERIOD: u64 = 86_400;

/// Records that tokens were just issued to `client`, for reaping idle
/// registrations ([`ServerConfig::dcr_idle_days`]): only for clients of
/// dynamic registration, and only when the record says the last recording
/// is a day old (the storage's conditional write settles races between
/// instances). A failure is logged, never the token request's.
pub(crate) async fn record_use(state: &GrantContext<'_>, client: &ClientRecord) {
    // The operator's clients are never reaped; a metadata document's
    // (its id is its URL) is not stored.
    if client.is_trusted() || client.client_id.contains("://") {
        return;
    }
    let now = state.clock.now();
    if client
        .last_used_at
        .is_some_and(|t| t > now.saturating_sub(USE_RECORDING_PERIOD))
    {
        return;
    }
    if let Err(e) = state
        .storage
        .touch_client(&client.client_id, now, USE_RECORDING_PERIOD)
        .await
    {
        tracing::warn!(error = %e, "recording the client's last use failed");
    }
}

/// What the grants read and write: storage, the configuration's lifetimes
/// and audiences, the signing keys, the upstream providers (to re-admit a
/// federated person), the trusted enterprise providers (identity assertion
/// grants), the metrics and the clock.
pub(crate) struct GrantContext<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) config: &'a ServerConfig,
    pub(crate) keys: &'a KeyManager,
    pub(crate) federation: &'a Federation,
    pub(crate) trusted_idps: &'a crate::federation::trusted_idp::TrustedIdps,
    pub(crate) metrics: &'a Metrics,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) audit: &'a crate::oauth::audit::Auditor,
}

/// Whether the person of a grant still holds it: a local user must still
/// exist, and nobody may have ended the subject's grants since the grant
/// began (password change, removal, `user revoke`: the subject's
/// generation moved on).
pub(crate) async fn subject_live(
    state: &GrantContext<'_>,
    subject: &str,
    generation: u64,
) -> OAuthResult<()> {
    let current = state.storage.subject(subject).await?;
    if current.generation != generation {
        return Err(ErrorResponse::invalid_grant(
            "the grant was revoked; the user must sign in again",
        )
        .into());
    }
    if !subject.contains(':') && state.storage.user(subject).await?.is_none() {
        return Err(ErrorResponse::invalid_grant("the user no longer exists").into());
    }
    Ok(())
}

/// Whether the grant an approval made at `approved_at` belongs to was
/// revoked since (by its person on their account page, or an operator).
pub(crate) async fn grant_live(
    state: &GrantContext<'_>,
    subject: &str,
    client_id: &str,
    resource: Option<&str>,
    approved_at: u64,
) -> OAuthResult<()> {
    let revoked = state
        .storage
        .grant_revoked_at(subject, client_id, resource.unwrap_or_default())
        .await?;
    // Never revoked (0) is live whatever the approval time (records from
    // before approval times were kept read 0).
    if revoked > 0 && revoked >= approved_at {
        return Err(ErrorResponse::invalid_grant(
            "the grant was revoked; the user must approve again",
        )
        .into());
    }
    Ok(())
}

/// For a person who signed in upstream: the claims their access tokens
/// carry. Checked at every code redemption and refresh, so removing the
/// provider or tightening its allow-lists ends their refreshes too.
///
/// A person only an enterprise identity provider's grants named (a
/// `{name}:{value}` subject of a trusted provider, with no sign-in here
/// and so no identity record) passes while that provider is still
/// configured, with no claims of ours to add; once it is removed, their
/// tokens can no longer be exchanged.
pub(crate) async fn federated_claims(
    state: &GrantContext<'_>,
    subject: &str,
) -> OAuthResult<BTreeMap<String, serde_json::Value>> {
    let Some((provider, _)) = subject.split_once(':') else {
        return Ok(BTreeMap::new());
    };
    let gone = || {
        ErrorResponse::invalid_grant("the identity provider of this grant is no longer configured")
    };
    let Some(who) = state.storage.identity(subject).await? else {
        if state
            .trusted_idps
            .by_name(provider)
            .is_some_and(|idp| !idp.config.local_users)
        {
            return Ok(BTreeMap::new());
        }
        return Err(match state.federation.get(provider) {
            Some(_) => ErrorResponse::invalid_grant("the person of this grant is unknown"),
            None => gone(),
        }
        .into());
    };
    let upstream = state
        .federation
        .get(provider)
        .filter(|_| who.provider == provider)
        .ok_or_else(gone)?;
    admit(upstream, &who).map_err(|e| {
        tracing::info!(subject = ?subject, error = ?e.to_string(), "federated grant no longer admitted");
        ErrorResponse::invalid_grant("the account is no longer allowed on this server")
    })?;
    Ok(token_claims(upstream, &who))
}
