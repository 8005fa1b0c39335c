//! People's tokens at upstream providers: kept (sealed) when they sign in
//! through a provider that stores them, and handed out fresh (refreshed
//! upstream when expired) for a token exchange. Nothing here logs a token.

use std::time::Duration;

use crate::federation::{Federation, Sealer, UpstreamTokens};
use crate::storage::{Storage, StorageError, UpstreamTokenRecord};

/// Seconds before its expiry an upstream access token is refreshed, so
/// one handed out does not expire on its way to the provider's API.
pub(crate) const EXPIRY_MARGIN: u64 = 60;

/// How often [`current`] reads the kept token before giving up: a refresh
/// that lost the compare-and-set, or was refused after another instance
/// spent the refresh token, reads the winner's token.
const RACE_ROUNDS: usize = 4;

/// The waits before each read that looks for another instance's refresh
/// after the provider refused ours (about three quarters of a second in
/// all, spent only when a refresh was refused).
const SETTLE_WAITS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(500),
];

/// Why a person's upstream token cannot be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum VaultError {
    /// Nothing kept (signed in locally, through a page, before the
    /// provider kept tokens, or their grants ended since).
    #[error("no upstream token is kept for this person")]
    NotKept,
    /// The kept tokens are of an earlier sign-in whose grants ended, or do
    /// not open (another key, a moved row).
    #[error("the kept upstream token is no longer usable")]
    Unusable,
    /// It expired and the provider would not refresh it (or no refresh
    /// token was kept).
    #[error("the upstream token expired and could not be refreshed: {0}")]
    RefreshFailed(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Keeps `tokens`, sealed, as `subject`'s at `provider`, for their sign-in
/// through `client_id` in `generation`. A failure is logged, never the
/// sign-in's: the person is signed in either way.
pub(crate) async fn keep(
    storage: &dyn Storage,
    federation: &Federation,
    who: (&str, u64),
    provider: &str,
    client_id: &str,
    tokens: &UpstreamTokens,
    now: u64,
) {
    let (subject, generation) = who;
    let Some(sealed) = federation
        .sealer()
        .and_then(|s| s.seal(subject, provider, tokens))
    else {
        tracing::error!(provider = %provider, "sealing the upstream tokens failed; they are not kept");
        return;
    };
    let record = UpstreamTokenRecord::new(subject, provider, client_id, generation, sealed, now);
    if let Err(e) = storage.put_upstream_token(record).await {
        tracing::error!(provider = %provider, error = %e, "keeping the upstream tokens failed");
    }
}

/// `subject`'s live access token at `provider` at `now`: the kept one, or
/// when it expires within [`EXPIRY_MARGIN`], a refreshed one.
///
/// Refreshes of one person's token are settled so the person keeps their
/// upstream login: inside this instance one at a time (a per-(subject,
/// provider) lock, then a fresh read); across instances the refreshed
/// token is stored with a compare-and-set on the record's version, and the
/// loser — whose refresh the provider may have refused because the winner
/// already spent a rotating refresh token — reads the record again and
/// hands out the winner's token once the version moved.
pub(crate) async fn current(
    storage: &dyn Storage,
    federation: &Federation,
    subject: &str,
    provider: &str,
    now: u64,
) -> Result<UpstreamTokens, VaultError> {
    let sealer = federation.sealer().ok_or(VaultError::NotKept)?;
    let mut locked = None;
    for _ in 0..RACE_ROUNDS {
        let (mut record, mut tokens) = load(storage, sealer, subject, provider).await?;
        if !tokens.expires_within(now, EXPIRY_MARGIN) {
            return Ok(tokens);
        }
        if locked.is_none() {
            // Wait for a refresh of this instance already under way, then
            // read again: it may have stored a fresh token.
            locked = Some(federation.refresh_locks().lock(subject, provider).await);
            (record, tokens) = load(storage, sealer, subject, provider).await?;
            if !tokens.expires_within(now, EXPIRY_MARGIN) {
                return Ok(tokens);
            }
        }
        let Some(refresh_token) = tokens.refresh_token.as_ref() else {
            return Err(VaultError::RefreshFailed(
                "the provider issued no refresh token".into(),
            ));
        };
        let fresh = match federation.refresh(provider, refresh_token, now).await {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::warn!(provider = %provider, error = %e, "refreshing an upstream token failed");
                // Another instance may have spent this refresh token first
                // and be storing what it got: use that.
                if moved_on(storage, subject, provider, record.version).await? {
                    continue;
                }
                return Err(VaultError::RefreshFailed(e.to_string()));
            }
        };
        let sealed = sealer
            .seal(subject, provider, &fresh)
            .ok_or(VaultError::Unusable)?;
        let mut next = record.clone();
        next.sealed = sealed;
        next.updated_at = now;
        if storage
            .replace_upstream_token(next, record.version)
            .await?
            .is_some()
        {
            tracing::info!(provider = %provider, subject = ?subject, "upstream token refreshed");
            return Ok(fresh);
        }
        // Another instance wrote first: read again and hand out its
        // token (ours may already be void if the provider rotates refresh
        // tokens).
    }
    Err(VaultError::RefreshFailed(
        "concurrent refreshes did not settle".into(),
    ))
}

/// The kept record of (`subject`, `provider`) and its opened tokens.
async fn load(
    storage: &dyn Storage,
    sealer: &Sealer,
    subject: &str,
    provider: &str,
) -> Result<(UpstreamTokenRecord, UpstreamTokens), VaultError> {
    let Some(record) = storage.upstream_token(subject, provider).await? else {
        return Err(VaultError::NotKept);
    };
    // A sign-in of a generation whose grants ended since (the store raced
    // a `user revoke`): never handed out, and forgotten.
    let generation = storage.subject(subject).await?.generation;
    if record.generation != generation {
        storage
            .delete_upstream_token(subject, provider, record.version)
            .await?;
        return Err(VaultError::NotKept);
    }
    let Some(tokens) = sealer.open(subject, provider, &record.sealed) else {
        tracing::error!(provider = %provider, "kept upstream tokens do not open (another key-encryption key, or a moved row)");
        return Err(VaultError::Unusable);
    };
    Ok((record, tokens))
}

/// Whether the record of (`subject`, `provider`) moved on from `version`
/// (or went), read again after each of [`SETTLE_WAITS`]: the instance
/// that spent the refresh token may still be storing its result.
async fn moved_on(
    storage: &dyn Storage,
    subject: &str,
    provider: &str,
    version: u64,
) -> Result<bool, StorageError> {
    for wait in SETTLE_WAITS {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        match storage.upstream_token(subject, provider).await? {
            Some(r) if r.version == version => {}
            _ => return Ok(true),
        }
    }
    Ok(false)
}
