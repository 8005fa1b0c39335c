//! Signing a person in with a username and password: the attempt is
//! reserved against the per-account and per-address limits before the
//! password is checked ([`crate::ratelimit`]), unknown users cost one
//! Argon2 check too (timing does not tell them apart), and the outcome
//! settles the reservation.

use crate::metrics::Metrics;
use crate::oauth::audit::{AuditEntry, AuditKind, Auditor};
use crate::password::{HashersBusy, dummy_hash, verify_password_bounded};
use crate::ratelimit::{Attempt, ThrottleLimits};
use crate::storage::{SignInMethod, Storage, StorageError};

/// A person who has signed in: who, in which generation of their grants,
/// since when and how. Approvals and sessions are made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedIn {
    /// The subject (a local user, or `provider:subject`).
    pub(crate) subject: String,
    /// Their subject generation at sign-in.
    pub(crate) generation: u64,
    /// When they signed in.
    pub(crate) auth_time: u64,
    /// How.
    pub(crate) method: SignInMethod,
}

/// What a session cookie holds (a JWT the server signed, `typ:
/// mcp-oauth-session+jwt`): the person, and the session's identifier,
/// whose record in storage keeps it valid.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SessionClaims {
    pub(crate) iss: String,
    /// The person.
    pub(crate) sub: String,
    pub(crate) exp: u64,
    /// When they signed in.
    pub(crate) auth_time: u64,
    /// Their subject generation at sign-in.
    pub(crate) generation: u64,
    /// The session identifier (storage keeps only its hash).
    pub(crate) sid: String,
    /// How they signed in.
    pub(crate) method: SignInMethod,
}

impl SessionClaims {
    /// The person signed in to this session.
    pub(crate) fn person(&self) -> SignedIn {
        SignedIn {
            subject: self.sub.clone(),
            generation: self.generation,
            auth_time: self.auth_time,
            method: self.method,
        }
    }
}

/// How a password sign-in ended.
#[derive(Debug)]
pub(crate) enum SignIn {
    /// The credentials are right: the person's subject generation, for the
    /// code and session they get.
    Accepted { generation: u64 },
    /// Wrong username or password (the attempt counts against the limits).
    Refused,
    /// Too many attempts for the account or the address lately.
    Throttled { retry_after: u64 },
    /// The password checkers are saturated; the attempt was not counted.
    Busy(HashersBusy),
}

/// Password sign-in: storage, the throttle limits and the failure counter.
pub(crate) struct PasswordLogin<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) limits: ThrottleLimits,
    pub(crate) metrics: &'a Metrics,
    pub(crate) audit: &'a Auditor,
}

impl PasswordLogin<'_> {
    /// Checks `username` and `password` for a request from `address` at
    /// `now`.
    pub(crate) async fn sign_in(
        &self,
        username: &str,
        password: &str,
        address: &str,
        now: u64,
    ) -> Result<SignIn, StorageError> {
        // A name that cannot exist is counted against the address only and
        // refused without a hash.
        let account = crate::admin::check_username(username)
            .is_ok()
            .then_some(username);
        let reservation = match self
            .limits
            .reserve(self.storage, account, address, now)
            .await?
        {
            Attempt::Allowed(r) => r,
            Attempt::Throttled { retry_after, first } => {
                tracing::warn!(%address, "login throttled");
                if first {
                    let entry = AuditKind::LoginThrottled.entry().address(address);
                    let entry = self.name_if_known(entry, account).await;
                    self.audit.record(entry).await;
                }
                return Ok(SignIn::Throttled { retry_after });
            }
        };
        let (matched, known) = match self.check(account, password).await {
            Ok(m) => m,
            Err(busy) => {
                if let Err(e) = self.limits.abandoned(self.storage, reservation).await {
                    tracing::error!(error = %e, "could not release a login attempt");
                }
                return Ok(SignIn::Busy(busy));
            }
        };
        if !matched {
            self.limits.failed(reservation);
            self.metrics.login_failures.inc();
            // The typed name is kept only when it names a user: people
            // sometimes type their password into the name field.
            let entry = AuditKind::LoginFailed.entry().address(address);
            let entry = match (known, account) {
                (true, Some(name)) => entry.user(name),
                _ => entry.detail("unknown_user", true),
            };
            self.audit.record(entry).await;
            return Ok(SignIn::Refused);
        }
        if let Err(e) = self.limits.succeeded(self.storage, reservation).await {
            tracing::error!(error = %e, "could not clear login attempts");
        }
        let generation = self.storage.subject(username).await?.generation;
        let entry = AuditKind::LoginSucceeded.entry().address(address);
        self.audit.record(entry.user(username)).await;
        Ok(SignIn::Accepted { generation })
    }

    /// `entry` naming `account` when it is a user (the typed name is not
    /// kept otherwise: it may be a mistyped password).
    async fn name_if_known(&self, entry: AuditEntry, account: Option<&str>) -> AuditEntry {
        match account {
            Some(name) if matches!(self.storage.user(name).await, Ok(Some(_))) => entry.user(name),
            _ => entry.detail("unknown_user", true),
        }
    }

    /// Whether the password is the user's, and whether the user exists.
    /// Unknown users cost one Argon2 verification too; a name that cannot
    /// exist (`None`) is refused without one.
    async fn check(
        &self,
        username: Option<&str>,
        password: &str,
    ) -> Result<(bool, bool), HashersBusy> {
        let Some(username) = username else {
            return Ok((false, false));
        };
        let stored = self.storage.user(username).await.ok().flatten();
        let hash = stored
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_owned());
        let matched = verify_password_bounded(password.to_owned(), hash).await?;
        Ok((matched && stored.is_some(), stored.is_some()))
    }
}
