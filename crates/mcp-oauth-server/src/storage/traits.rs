//! The stores, one trait per aggregate, and their sum [`Storage`].

use async_trait::async_trait;

use super::vault::VaultStore;
use super::{
    AuditEvent, AuditQuery, ClientRecord, CodeConsumption, CodeRecord, DeviceRecord, DeviceState,
    Grant, GrantFilter, GrantRecord, IdentityRecord, IssuedFromCode, RefreshRecord,
    RefreshRotation, SessionRecord, SigningKeyRecord, StorageError, StoredCode, SubjectState,
    UserRecord, policy,
};

/// Registered clients and the consents people gave them.
///
/// A consent belongs to its client: deleting or purging a client deletes
/// its consents in the same write, and saving a consent marks the client
/// used in the same write, so [`ClientStore::purge_unused_clients`] never
/// deletes a client someone has just consented to.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client; [`StorageError::Conflict`] if the id exists.
    async fn insert_client(&self, client: ClientRecord) -> Result<(), StorageError>;

    /// Looks a client up.
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StorageError>;

    /// Removes a client and its remembered consents; returns whether it
    /// existed. Its grants' records stay, so that revoking them first
    /// ([`AccountStore::revoke_grants`]) keeps their revocation times
    /// until the tokens issued before have expired.
    async fn delete_client(&self, client_id: &str) -> Result<bool, StorageError>;

    /// All clients.
    async fn clients(&self) -> Result<Vec<ClientRecord>, StorageError>;

    /// How many clients are registered.
    async fn client_count(&self) -> Result<usize, StorageError>;

    /// Replaces a client's secret, metadata and policy; returns whether it
    /// existed.
    async fn update_client(&self, client: ClientRecord) -> Result<bool, StorageError>;

    /// Deletes up to `limit` clients, oldest first, issued before
    /// `issued_before` that no person has consented to yet (a consent
    /// saved for a client marks it used for good); clients the operator
    /// trusts are never deleted. Returns how many went. Registrations
    /// nobody uses thus cannot fill the client table for good.
    async fn purge_unused_clients(
        &self,
        issued_before: u64,
        limit: usize,
    ) -> Result<usize, StorageError>;

    /// Records that a token was issued to `client_id` at `now`, unless one
    /// was recorded less than `every` seconds before (one conditional
    /// write, so instances racing on one client write once). Returns
    /// whether it wrote. Callers skip the call when the record they hold
    /// says it was recorded recently ([`ClientRecord::last_used_at`]).
    async fn touch_client(
        &self,
        client_id: &str,
        now: u64,
        every: u64,
    ) -> Result<bool, StorageError>;

    /// Deletes up to `limit` clients of dynamic registration (never one
    /// the operator trusts) last used before `idle_before` (the last token
    /// issued to them, else the first consent, else their registration),
    /// oldest first, and ends at `now` what was issued to them as
    /// [`AccountStore::revoke_grants`] does: grants marked revoked,
    /// consents deleted, refresh families revoked; all in one write, so a
    /// client used meanwhile is not deleted. Returns the ids deleted.
    async fn reap_idle_clients(
        &self,
        idle_before: u64,
        now: u64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;

    /// The scope `subject` has consented to for `client_id` and `resource`
    /// (the empty string when the request named none), if any.
    async fn consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<String>, StorageError>;

    /// Records (replacing) the scope `subject` consents to for `client_id`
    /// and `resource`, given at `now`.
    async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        now: u64,
    ) -> Result<(), StorageError>;
}

/// What an authorization leaves behind: authorization codes, refresh-token
/// families, revoked access tokens (`jti`s), single-use identifiers and the
/// revocation state of subjects.
///
/// The operations that decide security under concurrency are single calls,
/// each an atomic read-modify-write, also across server instances sharing
/// one database: [`GrantStore::consume_code`] (a code is redeemed once),
/// [`GrantStore::rotate_refresh`] (a refresh token is rotated once, reuse is
/// detected; the verdict is [`policy::rotation`](super::policy::rotation)), [`GrantStore::use_once`]
/// and [`GrantStore::revoke_subject`].
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new authorization code.
    async fn insert_code(&self, code: CodeRecord) -> Result<(), StorageError>;

    /// Reads a code without spending it (the token endpoint checks the
    /// client, PKCE and redirect URI first, so a failed attempt does not
    /// burn the legitimate client's code).
    async fn code(&self, code_hash: &str) -> Result<Option<StoredCode>, StorageError>;

    /// Atomically marks a code as spent, recording what its redemption
    /// issues, and says whether this was the first redemption.
    async fn consume_code(
        &self,
        code_hash: &str,
        issued: IssuedFromCode,
    ) -> Result<CodeConsumption, StorageError>;

    /// Stores the first refresh token of a new family.
    async fn insert_refresh(&self, token: RefreshRecord) -> Result<(), StorageError>;

    /// Looks a refresh token up (also when spent).
    async fn refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StorageError>;

    /// Atomically spends `token_hash` and stores `successor` (and, on the
    /// spent token, the successor's hash and `sealed_successor`), applying
    /// the verdict of [`policy::rotation`](super::policy::rotation); see [`RefreshRotation`]. `now`
    /// and `grace` are seconds.
    async fn rotate_refresh(
        &self,
        token_hash: &str,
        successor: RefreshRecord,
        sealed_successor: String,
        now: u64,
        grace: u64,
    ) -> Result<RefreshRotation, StorageError>;

    /// Revokes a whole refresh family, at `now`.
    async fn revoke_family(&self, family_id: &str, now: u64) -> Result<(), StorageError>;

    /// Whether a family is revoked.
    async fn family_revoked(&self, family_id: &str) -> Result<bool, StorageError>;

    /// Marks an access token (by `jti`) revoked until `exp`.
    async fn revoke_jti(&self, jti: &str, exp: u64) -> Result<(), StorageError>;

    /// Whether an access token is revoked.
    async fn jti_revoked(&self, jti: &str) -> Result<bool, StorageError>;

    /// A stamp of everything stored, read without a round trip: two equal
    /// readings mean nothing stored changed in between, through this
    /// handle or any other connection to the same database (another
    /// instance, an operator's command). `None` (the default) when the
    /// backend cannot tell cheaply; callers then ask storage every time.
    /// Answers cached under a stamp are thus
    /// exactly what storage would say while it reads the same.
    fn data_version(&self) -> Option<u64> {
        None
    }

    /// Records a single-use identifier (a client assertion's `jti`) until
    /// `exp`; returns false, atomically, when it was already recorded.
    async fn use_once(&self, key: &str, exp: u64) -> Result<bool, StorageError>;

    /// The revocation state of a subject (all zero when never revoked).
    async fn subject(&self, subject: &str) -> Result<SubjectState, StorageError>;

    /// Ends everything a subject holds: moves its generation on (so its
    /// codes, sessions and refresh families die), records `now` as its
    /// revocation time, revokes its refresh families, deletes its sessions,
    /// remembered consents and grant records, in one write.
    /// Returns the new state.
    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<SubjectState, StorageError>;

    /// Deletes what has expired before `now`: refresh tokens (and the
    /// revocation marks of families none of whose tokens are left), revoked
    /// `jti`s past their expiry, codes more than `code_retention` seconds
    /// past theirs (spent codes are kept that long so a late replay still
    /// finds, and revokes, what the code produced), and grants revoked
    /// more than twice `code_retention` ago (everything issued before the
    /// revocation has expired by then).
    async fn purge_expired_grants(&self, now: u64, code_retention: u64)
    -> Result<(), StorageError>;
}

/// The signing keys, kept across restarts.
///
/// [`KeyStore::add_signing_key`] retires the newest key and stores its
/// successor in a single write, so there is never more than one key
/// without a retirement time.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// All signing keys, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StorageError>;

    /// Stores `key` as the successor of the newest key `replaces`, which
    /// is retired at `key.activates_at`, in one write. Returns `false`
    /// (storing nothing) when `replaces` is no longer the newest key:
    /// another instance rotated first, so of several instances deciding
    /// to rotate at once, exactly one key is added.
    async fn add_signing_key(
        &self,
        key: SigningKeyRecord,
        replaces: &str,
    ) -> Result<bool, StorageError>;

    /// Stores `key` as the first active key, unless an active key exists
    /// already (one atomic decision, also across instances sharing one
    /// database: of several instances starting together, one key wins and
    /// every instance loads it). Returns whether `key` was stored.
    async fn add_first_signing_key(&self, key: SigningKeyRecord) -> Result<bool, StorageError>;

    /// Deletes a key that no longer signs (retired), so it is published no
    /// more; returns whether one was deleted. The active key is never
    /// deleted (the condition is part of the one write).
    async fn delete_retired_key(&self, kid: &str) -> Result<bool, StorageError>;
}

/// The people who sign in: local users (with their password hashes) and
/// the identities of people who sign in through an upstream provider.
///
/// Each call reads or writes one record; writes replace the whole record.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates or replaces a user.
    async fn upsert_user(&self, user: UserRecord) -> Result<(), StorageError>;

    /// Creates a user; [`StorageError::Conflict`] if the name is taken
    /// (one atomic write: two concurrent adds of one name cannot both
    /// succeed).
    async fn insert_user(&self, user: UserRecord) -> Result<(), StorageError>;

    /// Replaces an existing user's password hash; returns whether the user
    /// existed (one conditional write: a user removed meanwhile is not
    /// brought back).
    async fn update_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StorageError>;

    /// Looks a user up.
    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StorageError>;

    /// Removes a user; returns whether it existed.
    async fn delete_user(&self, username: &str) -> Result<bool, StorageError>;

    /// All users.
    async fn users(&self) -> Result<Vec<UserRecord>, StorageError>;

    /// Creates or replaces a federated identity.
    async fn save_identity(&self, identity: IdentityRecord) -> Result<(), StorageError>;

    /// Looks a federated identity up by our subject.
    async fn identity(&self, subject: &str) -> Result<Option<IdentityRecord>, StorageError>;
}

/// Counts in fixed windows, per key: the throttles of login and
/// registration reserve attempts here.
///
/// [`CounterStore::bump_counter`] is one atomic increment, also across
/// server instances sharing one database, so a burst spread over instances
/// is counted in full.
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Atomically counts one event for `key` in a fixed window (a new
    /// window of `window` seconds starts at `now` when the current one has
    /// ended) and returns the count including this event and when the
    /// window started. Throttles reserve an attempt with this before doing
    /// the work, so a burst cannot pass a check-then-act gap.
    async fn bump_counter(
        &self,
        key: &str,
        now: u64,
        window: u64,
    ) -> Result<(u32, u64), StorageError>;

    /// The count for `key` and when its window started.
    async fn counter(&self, key: &str) -> Result<Option<(u32, u64)>, StorageError>;

    /// Takes one event back (a reserved attempt that succeeded).
    async fn release_counter(&self, key: &str) -> Result<(), StorageError>;

    /// Forgets `key`'s count.
    async fn clear_counter(&self, key: &str) -> Result<(), StorageError>;

    /// Forgets the counts whose window started `max_age` seconds or more
    /// before `now`.
    async fn purge_counters(&self, now: u64, max_age: u64) -> Result<(), StorageError>;
}

/// How long [`Storage::purge_expired`] keeps a counter after its window
/// started (a day: longer than any throttle's window).
pub const COUNTER_RETENTION: u64 = 86_400;

/// Device authorizations (RFC 8628): created by a device, decided by a
/// person on the verification page, polled by the device until it gets
/// its tokens once.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Stores a new device authorization; [`StorageError::Conflict`] when
    /// its device code hash or user code is taken.
    async fn insert_device(&self, device: DeviceRecord) -> Result<(), StorageError>;

    /// The device authorization of a user code (canonical form), if any.
    async fn device_by_user_code(
        &self,
        user_code: &str,
    ) -> Result<Option<DeviceRecord>, StorageError>;

    /// Records a person's decision on a live, undecided authorization
    /// (atomically; see [`policy::device_decidable`]). Returns whether it
    /// was recorded.
    async fn decide_device(
        &self,
        user_code: &str,
        decision: DeviceState,
        now: u64,
    ) -> Result<bool, StorageError>;

    /// One poll of a device code (by hash) by `client_id` at `now`: applies
    /// [`policy::device_poll`] inside one atomic read-modify-write.
    async fn poll_device(
        &self,
        device_code_hash: &str,
        client_id: &str,
        now: u64,
    ) -> Result<policy::DevicePoll, StorageError>;

    /// Deletes device authorizations that expired before `now`.
    async fn purge_devices(&self, now: u64) -> Result<(), StorageError>;
}

/// Seconds an expired device authorization is kept before
/// [`Storage::purge_expired`] deletes it.
pub const DEVICE_RETENTION: u64 = 600;

/// What people approved (grants) and their browser sessions: what an
/// operator lists and revokes, and a person sees on their account page.
///
/// [`AccountStore::revoke_grants`] is one atomic write, also across
/// instances sharing one database: it records the revocation (so access
/// tokens issued up to then read as inactive), forgets the remembered
/// consent and revokes the refresh families, together.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Records an approval, replacing the scope, method and time of an
    /// earlier one of the same (subject, client, resource) but keeping when
    /// it was last revoked; marks the client used (see
    /// [`ClientStore::purge_unused_clients`]).
    async fn record_grant(&self, grant: GrantRecord) -> Result<(), StorageError>;

    /// The live grants `filter` covers (approved after their last
    /// revocation), oldest first, with their refresh families still live
    /// at `now` counted.
    async fn grants(&self, filter: &GrantFilter, now: u64) -> Result<Vec<Grant>, StorageError>;

    /// Ends every grant `filter` covers, at `now`: marks the live ones
    /// revoked, deletes the matching remembered consents and revokes the
    /// matching refresh families (also of grants recorded before this
    /// store existed). Returns the grants that were live.
    async fn revoke_grants(
        &self,
        filter: &GrantFilter,
        now: u64,
    ) -> Result<Vec<GrantRecord>, StorageError>;

    /// When the grant of (`subject`, `client_id`, `resource`), or the
    /// grant of `subject` to `client_id` that named no resource (whose
    /// tokens carry the server's default audience), was last revoked,
    /// whichever is later (0: never). Access tokens for that audience
    /// issued at or before it are inactive.
    async fn grant_revoked_at(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<u64, StorageError>;

    /// When any grant of `subject` to `client_id`, whatever its resource,
    /// was last revoked (0: never): what a client-wide decision needs,
    /// such as issuing an ID-JAG for an ID token, which names no resource.
    async fn client_grant_revoked_at(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<u64, StorageError>;

    /// Stores a new session.
    async fn insert_session(&self, session: SessionRecord) -> Result<(), StorageError>;

    /// A session by its identifier's hash (also when expired: the caller
    /// checks).
    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StorageError>;

    /// A person's sessions live at `now`, oldest first.
    async fn sessions(&self, subject: &str, now: u64) -> Result<Vec<SessionRecord>, StorageError>;

    /// Ends one session; returns whether it existed.
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StorageError>;

    /// Ends all of a person's sessions; returns how many there were.
    async fn delete_sessions(&self, subject: &str) -> Result<usize, StorageError>;

    /// Deletes the sessions that ended before `now`.
    async fn purge_sessions(&self, now: u64) -> Result<(), StorageError>;
}

/// The audit trail: append-only, read in order, purged by age.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event; returns its position.
    async fn append_audit(&self, event: AuditEvent) -> Result<i64, StorageError>;

    /// The events `query` selects, oldest first.
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StorageError>;

    /// Deletes the events older than `before`; returns how many.
    async fn purge_audit(&self, before: u64) -> Result<u64, StorageError>;
}

/// The server's storage: every aggregate store in one object; see the
/// [module documentation](super).
///
/// Implemented for every type that implements the stores, so a backend
/// implements [`ClientStore`], [`GrantStore`], [`KeyStore`],
/// [`UserStore`], [`CounterStore`], [`DeviceStore`], [`AccountStore`],
/// [`AuditStore`] and [`VaultStore`], and `Arc<dyn Storage>` hands all of them around as one. Calling a store's methods on a `dyn Storage` needs
/// that store's trait in scope.
#[async_trait]
pub trait Storage:
    ClientStore
    + GrantStore
    + KeyStore
    + UserStore
    + CounterStore
    + DeviceStore
    + AccountStore
    + AuditStore
    + VaultStore
    + Send
    + Sync
    + 'static
{
    /// Deletes everything that has expired before `now`: the grants
    /// [`GrantStore::purge_expired_grants`] deletes (spent codes are kept
    /// `code_retention` seconds past their expiry), device authorizations
    /// expired for [`DEVICE_RETENTION`] seconds, ended sessions, and
    /// counters older than [`COUNTER_RETENTION`]. (The audit trail has its
    /// own retention: [`AuditStore::purge_audit`].)
    async fn purge_expired(&self, now: u64, code_retention: u64) -> Result<(), StorageError> {
        self.purge_sessions(now).await?;
        self.purge_expired_grants(now, code_retention).await?;
        // Expired device codes are kept a while, so a late poll still
        // reads `expired_token`; not longer, so they stay bounded.
        self.purge_devices(now.saturating_sub(DEVICE_RETENTION))
            .await?;
        self.purge_counters(now, COUNTER_RETENTION).await
    }
}

impl<T> Storage for T where
    T: ClientStore
        + GrantStore
        + KeyStore
        + UserStore
        + CounterStore
        + DeviceStore
        + AccountStore
        + AuditStore
        + VaultStore
        + Send
        + Sync
        + 'static
{
}
