//! The records the stores keep.

use mcp_oauth_core::registration::ClientMetadata;
use serde::{Deserialize, Serialize};

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
    /// SHA-256 of the RFC 7592 registration access token: clients from
    /// dynamic registration read, update and delete their registration
    /// with it. `None` for every other client.
    #[serde(default)]
    pub registration_token_hash: Option<String>,
    /// When a token was last issued to the client, as far as recorded
    /// (at most about once a day, [`ClientStore::touch_client`](super::ClientStore::touch_client));
    /// registered clients idle for long are reaped. Written by the store
    /// only: [`ClientStore::update_client`](super::ClientStore::update_client)
    /// leaves it as it is.
    #[serde(default)]
    pub last_used_at: Option<u64>,
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
    /// The OpenID Connect `nonce` of the authorization request, which the
    /// ID token repeats. Kept inside the record's JSON, so every backend
    /// stores it without a schema change (records from before read none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// A stored authorization code, as [`GrantStore::code`](super::GrantStore::code) reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCode {
    /// The code.
    pub record: CodeRecord,
    /// Whether it was redeemed.
    pub used: bool,
    /// What its redemption issued.
    pub issued: Option<IssuedFromCode>,
}

/// What [`GrantStore::consume_code`](super::GrantStore::consume_code) found.
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
    /// When the person approved the grant the family belongs to (0 for
    /// families from before this was kept): a revocation of the grant at
    /// or after it ends the family, also one that raced its creation.
    #[serde(default)]
    pub approved_at: u64,
    /// Expiry of this token.
    pub expires_at: u64,
    /// When this token was rotated (spent), if it was.
    pub rotated_at: Option<u64>,
}

/// What [`GrantStore::rotate_refresh`](super::GrantStore::rotate_refresh) did.
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
    /// When the key starts signing: published in the JWKS from
    /// `created_at`, it signs from this time on (a rotation publishes the
    /// next key ahead, so verifiers hold it before they meet a token).
    pub activates_at: u64,
    /// When the key stops (or stopped) signing: set when its successor is
    /// stored, to the successor's `activates_at`. It stays in the JWKS
    /// until the tokens it signed have expired.
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

/// A device authorization (RFC 8628): what a device asked for, and where
/// the person's decision stands. Keyed by the device code's hash; the user
/// code is unique among live ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// SHA-256 of the device code (never the code itself).
    pub device_code_hash: String,
    /// The user code, canonical (`BDFH-KMNP`).
    pub user_code: String,
    /// The client that asked.
    pub client_id: String,
    /// The scope asked.
    pub scope: String,
    /// The resource asked (RFC 8707), if any.
    pub resource: Option<String>,
    /// When both codes expire.
    pub expires_at: u64,
    /// The polling pace the device is held to.
    pub pace: mcp_oauth_core::device::PollPace,
    /// The person's decision so far.
    pub state: DeviceState,
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeviceState {
    /// Nobody has decided yet.
    Pending,
    /// A person approved it; the next poll gets the tokens.
    Approved {
        /// Who approved.
        subject: String,
        /// Their subject generation when they signed in.
        generation: u64,
        /// When they signed in.
        auth_time: u64,
        /// When they approved (a revocation of the grant after it ends
        /// the approval too).
        #[serde(default)]
        approved_at: u64,
    },
    /// A person denied it.
    Denied,
    /// Its tokens were issued; the device code is spent.
    Redeemed,
}
