//! Storage: one async trait per aggregate, several backends.
//!
//! Everything the server must not lose lives behind [`Storage`], the sum of
//! five stores: [`ClientStore`] (registered clients and consents),
//! [`GrantStore`] (authorization codes, refresh-token families, revoked
//! access tokens, subject revocation), [`KeyStore`] (signing keys),
//! [`UserStore`] (users and federated identities) and [`CounterStore`]
//! (the windowed counts behind login and registration throttling). Secrets
//! are stored only as hashes (SHA-256 for 256-bit random tokens, argon2 for
//! passwords).
//!
//! The operations that decide security under concurrency are single calls,
//! so each backend can make them atomic: [`GrantStore::consume_code`] (a
//! code is redeemed once), [`GrantStore::rotate_refresh`] (a refresh token
//! is rotated once, reuse is detected) and [`CounterStore::bump_counter`].

mod codec;
mod memory;
pub mod policy;
mod postgres;
mod postgres_tls;
mod sqlite;
#[cfg(test)]
mod suite;

pub use memory::MemoryStorage;
pub use postgres::PostgresStorage;
pub use sqlite::SqliteStorage;

use async_trait::async_trait;
use mcp_oauth_core::registration::ClientMetadata;
use serde::{Deserialize, Serialize};

/// Connections a PostgreSQL pool opens at most.
pub const POSTGRES_POOL_SIZE: usize = 16;

/// Opens the storage a specification names: `memory`, `sqlite:PATH` (or a
/// bare path), or `postgres://…` (several instances may share it).
pub async fn open(spec: &str) -> Result<std::sync::Arc<dyn Storage>, StorageError> {
    let spec = spec.trim();
    if spec == "memory" {
        return Ok(std::sync::Arc::new(MemoryStorage::new()));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(
            PostgresStorage::connect(spec, POSTGRES_POOL_SIZE).await?,
        ));
    }
    let path = spec
        .strip_prefix("sqlite://")
        .or_else(|| spec.strip_prefix("sqlite:"))
        .unwrap_or(spec);
    if path.is_empty() {
        return Err(StorageError::Backend("empty storage path".into()));
    }
    Ok(std::sync::Arc::new(SqliteStorage::open(path)?))
}

/// A storage backend failed (I/O, corruption, a lost connection).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The backend could not be reached or failed.
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The record already exists.
    #[error("record already exists")]
    Conflict,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client identifier.
    pub client_id: String,
    /// SHA-256 of the client secret (confidential clients).
    pub secret_hash: Option<String>,
    /// The registered metadata.
    pub metadata: ClientMetadata,
    /// Registration time (seconds since the epoch).
    pub issued_at: u64,
    /// What the client may do beyond acting for a person who signs in and
    /// consents; see [`ClientPolicy`].
    #[serde(default)]
    pub policy: ClientPolicy,
}

/// Who vouches for a client, and what that lets it do.
///
/// Clients from open dynamic registration or a Client ID Metadata Document
/// are *untrusted* (the default): they may only act for a person who signs
/// in and consents. Clients the operator created (the `client add`
/// command, the configuration's `[[clients]]`, or embedding code) are
/// *trusted*: only they may use grants without a person
/// (`client_credentials`), introspect tokens as a resource server, or post
/// a user's password headlessly.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ClientPolicy {
    /// Created by the operator.
    pub trusted: bool,
    /// Audiences (canonical resource URIs) this client's tokens may name;
    /// empty: any resource the server serves. For a resource server: the
    /// resources it serves, whose tokens it may introspect.
    pub resources: Vec<String>,
    /// A resource server: may introspect access tokens issued for
    /// [`ClientPolicy::resources`] (RFC 7662). Trusted clients only.
    pub resource_server: bool,
    /// May post a user's username and password to `/login` as JSON (the
    /// headless login of a first-party agent). Trusted clients only; never
    /// counts as consent.
    pub headless_login: bool,
}

impl ClientPolicy {
    /// The policy of a client the operator created.
    pub fn trusted() -> Self {
        Self {
            trusted: true,
            ..Self::default()
        }
    }
}

impl ClientRecord {
    /// Whether the client authenticates (with a secret or a key), as
    /// opposed to a public client.
    pub fn is_confidential(&self) -> bool {
        self.metadata.effective_auth_method()
            != mcp_oauth_core::registration::ClientAuthMethod::None
    }

    /// Whether the operator created this client.
    pub fn is_trusted(&self) -> bool {
        self.policy.trusted
    }
}

/// An issued authorization code, bound to everything the token request must
/// repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// Whether the authorization request named the redirect URI (then the
    /// token request must repeat it, RFC 6749 §4.1.3).
    #[serde(default)]
    pub redirect_uri_sent: bool,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The canonical resource (audience), if one was asked.
    pub resource: Option<String>,
    /// The granted scope.
    pub scope: String,
    /// The authenticated user.
    pub subject: String,
    /// The user's [`SubjectState::generation`] when they approved.
    #[serde(default)]
    pub subject_generation: u64,
    /// When the user authenticated.
    pub auth_time: u64,
    /// Expiry.
    pub expires_at: u64,
}

/// A stored authorization code, as [`GrantStore::code`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCode {
    /// The code.
    pub record: CodeRecord,
    /// Whether it was redeemed.
    pub used: bool,
    /// What its redemption issued.
    pub issued: Option<IssuedFromCode>,
}

/// What [`GrantStore::consume_code`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeConsumption {
    /// First redemption: the code is now spent, and what it issues is
    /// recorded.
    First(CodeRecord),
    /// The code was already redeemed: a replay. Carries the family of
    /// refresh tokens and the access token issued from the first
    /// redemption, so they can be revoked.
    Replayed {
        /// The code.
        record: CodeRecord,
        /// Tokens issued from it.
        issued: Option<IssuedFromCode>,
    },
    /// No such code.
    Unknown,
}

/// The tokens a code produces, recorded when it is spent so that a replay
/// can revoke them (even one that races the first redemption).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedFromCode {
    /// The refresh family started by the code, if any.
    pub family_id: Option<String>,
    /// The access token's `jti` and expiry.
    pub access_jti: String,
    /// Expiry of that access token.
    pub access_exp: u64,
}

/// One refresh token of a family (every rotation adds one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The family (one per authorization).
    pub family_id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// The user's [`SubjectState::generation`] when the grant began.
    #[serde(default)]
    pub subject_generation: u64,
    /// Granted scope (refreshes may narrow, never widen it).
    pub scope: String,
    /// Audience.
    pub resource: Option<String>,
    /// When the user authenticated.
    pub auth_time: u64,
    /// Expiry of this token.
    pub expires_at: u64,
    /// When this token was rotated (spent), if it was.
    pub rotated_at: Option<u64>,
}

/// What [`GrantStore::rotate_refresh`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshRotation {
    /// The token was live; it is now spent and the successor stored.
    Rotated(RefreshRecord),
    /// The token was spent moments ago (within the grace window) and its
    /// successor is still unused: a retried refresh. Nothing was stored;
    /// the caller answers with the same successor, which it opens from
    /// `sealed_successor` with the presented token, so the chain never
    /// forks.
    Repeated {
        /// The presented (spent) token.
        record: RefreshRecord,
        /// The successor, sealed with a key only the presented token
        /// yields (see `crate::refresh_seal`).
        sealed_successor: String,
    },
    /// The token was spent earlier: reuse. The whole family is revoked.
    Reused(RefreshRecord),
    /// Unknown, expired, or its family revoked.
    Invalid,
}

/// Revocation state of a subject (a local user or a federated person).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubjectState {
    /// Changes whenever the subject's grants and sessions are ended
    /// (password change, removal, `user revoke`); codes, refresh families
    /// and sessions carry the generation they began in and die with it.
    pub generation: u64,
    /// When that last happened (seconds since the epoch; 0: never). Access
    /// tokens issued at or before it are reported inactive.
    pub revoked_at: u64,
}

/// A signing key, kept across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// Key identifier (JWS `kid`).
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// The private key, PKCS#8 DER, base64url.
    pub pkcs8: String,
    /// Creation time.
    pub created_at: u64,
    /// When the key stopped signing (it stays in the JWKS until the tokens
    /// it signed have expired).
    pub retired_at: Option<u64>,
}

/// A user who can log in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Login name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
}

/// A person who signed in through an upstream identity provider, as the
/// provider described them at their latest sign-in. Kept so that refreshed
/// tokens carry the same claims and the allow-lists can be checked again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    /// Our subject: `{provider}:{upstream subject}`.
    pub subject: String,
    /// The upstream's configured id.
    pub provider: String,
    /// E-mail address, if the provider gave one.
    pub email: Option<String>,
    /// Whether the provider says it verified the address.
    pub email_verified: Option<bool>,
    /// Display name.
    pub name: Option<String>,
    /// Groups (or roles) the provider listed.
    #[serde(default)]
    pub groups: Vec<String>,
    /// When the person last signed in upstream.
    pub updated_at: u64,
}

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

    /// Removes a client; returns whether it existed.
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

    /// The scope `subject` has consented to for `client_id` and `resource`
    /// (the empty string when the request named none), if any.
    async fn consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<String>, StorageError>;

    /// Records (replacing) the scope `subject` consents to for `client_id`
    /// and `resource`.
    async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
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
/// detected; the verdict is [`policy::rotation`]), [`GrantStore::use_once`]
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
    /// the verdict of [`policy::rotation`]; see [`RefreshRotation`]. `now`
    /// and `grace` are seconds.
    async fn rotate_refresh(
        &self,
        token_hash: &str,
        successor: RefreshRecord,
        sealed_successor: String,
        now: u64,
        grace: u64,
    ) -> Result<RefreshRotation, StorageError>;

    /// Revokes a whole refresh family.
    async fn revoke_family(&self, family_id: &str) -> Result<(), StorageError>;

    /// Whether a family is revoked.
    async fn family_revoked(&self, family_id: &str) -> Result<bool, StorageError>;

    /// Marks an access token (by `jti`) revoked until `exp`.
    async fn revoke_jti(&self, jti: &str, exp: u64) -> Result<(), StorageError>;

    /// Whether an access token is revoked.
    async fn jti_revoked(&self, jti: &str) -> Result<bool, StorageError>;

    /// Records a single-use identifier (a client assertion's `jti`) until
    /// `exp`; returns false, atomically, when it was already recorded.
    async fn use_once(&self, key: &str, exp: u64) -> Result<bool, StorageError>;

    /// The revocation state of a subject (all zero when never revoked).
    async fn subject(&self, subject: &str) -> Result<SubjectState, StorageError>;

    /// Ends everything a subject holds: moves its generation on (so its
    /// codes, sessions and refresh families die), records `now` as its
    /// revocation time, and revokes its refresh families. Returns the new
    /// state.
    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<SubjectState, StorageError>;

    /// Deletes what has expired before `now`: refresh tokens (and the
    /// revocation marks of families none of whose tokens are left), revoked
    /// `jti`s past their expiry, and codes more than `code_retention`
    /// seconds past theirs (spent codes are kept that long so a late replay
    /// still finds, and revokes, what the code produced).
    async fn purge_expired_grants(&self, now: u64, code_retention: u64)
    -> Result<(), StorageError>;
}

/// The signing keys, kept across restarts.
///
/// [`KeyStore::add_signing_key`] retires the active key and stores the new
/// one in a single write, so there is never more than one active key.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// All signing keys, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StorageError>;

    /// Stores a new signing key and retires the previous active one at `now`.
    async fn add_signing_key(&self, key: SigningKeyRecord, now: u64) -> Result<(), StorageError>;
}

/// The people who sign in: local users (with their password hashes) and
/// the identities of people who sign in through an upstream provider.
///
/// Each call reads or writes one record; writes replace the whole record.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates or replaces a user.
    async fn upsert_user(&self, user: UserRecord) -> Result<(), StorageError>;

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

/// The server's storage: every aggregate store in one object; see the
/// [module documentation](self).
///
/// Implemented for every type that implements the five stores, so a
/// backend implements [`ClientStore`], [`GrantStore`], [`KeyStore`],
/// [`UserStore`] and [`CounterStore`], and `Arc<dyn Storage>` hands all of
/// them around as one. Calling a store's methods on a `dyn Storage` needs
/// that store's trait in scope.
#[async_trait]
pub trait Storage:
    ClientStore + GrantStore + KeyStore + UserStore + CounterStore + Send + Sync + 'static
{
    /// Deletes everything that has expired before `now`: the grants
    /// [`GrantStore::purge_expired_grants`] deletes (spent codes are kept
    /// `code_retention` seconds past their expiry) and counters older than
    /// [`COUNTER_RETENTION`].
    async fn purge_expired(&self, now: u64, code_retention: u64) -> Result<(), StorageError> {
        self.purge_expired_grants(now, code_retention).await?;
        self.purge_counters(now, COUNTER_RETENTION).await
    }
}

impl<T> Storage for T where
    T: ClientStore + GrantStore + KeyStore + UserStore + CounterStore + Send + Sync + 'static
{
}
