//! Token storage: registrations and tokens, keyed by issuer, resource and
//! client, so credentials are never reused with another authorization
//! server or resource.
//!
//! A store holds three kinds of records, each under its own key type: the
//! [`SessionRecord`] of an MCP server ([`SessionKey`]), the [`Tokens`] for it
//! ([`TokensKey`]) and a dynamic [`Registration`] at an authorization server
//! ([`RegistrationKey`]). Callers use the typed methods of [`TokenStore`]
//! (`load_*`, `save_*`); a backend implements only [`TokenStore::get`],
//! [`TokenStore::put`] and [`TokenStore::remove`] over opaque entry names.
//!
//! [`MemoryStore`] keeps them for the process; [`FileStore`] keeps them in a
//! file encrypted with XChaCha20-Poly1305 that several processes may share.

mod file;
mod memory;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use mcp_oauth_core::secret::{AccessToken, ClientSecret, RefreshToken};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use file::{FileStore, generate_key, generate_key_base64};
pub use memory::MemoryStore;

/// A client identity at one authorization server; the secret never shows
/// in `Debug`.
///
/// ```
/// use mcp_oauth_client::Registration;
/// use mcp_oauth_client::core::secret::ClientSecret;
///
/// let registration = Registration {
///     client_id: "abc".into(),
///     client_secret: Some(ClientSecret::new("s3cr3t-value".to_owned())),
///     redirect_uris: vec!["http://127.0.0.1/callback".into()],
/// };
/// assert!(!format!("{registration:?}").contains("s3cr3t-value"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The client id.
    pub client_id: String,
    /// The client secret, for confidential registrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// The redirect URIs registered.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

/// Tokens for one (issuer, resource, client) and MCP server; the secrets
/// never show in `Debug`.
///
/// ```
/// use mcp_oauth_client::Tokens;
/// use mcp_oauth_client::core::secret::{AccessToken, RefreshToken};
///
/// let tokens = Tokens {
///     access_token: AccessToken::new("at-value"),
///     refresh_token: Some(RefreshToken::new("rt-value")),
///     expires_at: Some(1_700_003_600),
///     refresh_at: Some(1_700_003_570),
///     scope: "mcp".into(),
/// };
/// let text = format!("{tokens:?}");
/// assert!(!text.contains("at-value") && !text.contains("rt-value"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires (seconds since the epoch), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// When to refresh it: a quarter of its life (30 s at most) before
    /// expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_at: Option<u64>,
    /// The granted scope.
    #[serde(default)]
    pub scope: String,
}

/// Why the store failed.
///
/// ```
/// use mcp_oauth_client::{ClientError, StoreError};
///
/// fn wrong_key(err: &ClientError) -> bool {
///     matches!(err, ClientError::Store(StoreError::Decrypt(_)))
/// }
/// let err = ClientError::from(StoreError::Decrypt("tokens.bin".into()));
/// assert!(wrong_key(&err));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be read or written.
    #[error("token store I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file could not be decrypted: wrong key, or corrupted.
    #[error(
        "token store {0} cannot be decrypted (wrong key, or the file is corrupt); it was left untouched"
    )]
    Decrypt(PathBuf),
    /// The key in the environment variable is missing, not base64, or not
    /// 32 bytes.
    #[error(
        "token store key {var}: {problem} (it holds 32 random bytes in base64: make one with \
         `mcp_oauth_client::store::generate_key_base64()`, or `openssl rand -base64 32`)"
    )]
    Key {
        /// The environment variable.
        var: String,
        /// What is wrong with it.
        problem: &'static str,
        /// The cause, when there is one (the variable is not set or not
        /// Unicode; the text is not base64).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A record could not be encoded for storage.
    #[error("a record could not be encoded for the token store: {0}")]
    Encode(#[source] serde_json::Error),
    /// The decrypted content is not what this crate writes.
    #[error("token store {path} has an unknown format")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why its content does not decode, when it got that far.
        #[source]
        source: Option<serde_json::Error>,
    },
}

/// What an agent remembers about one MCP server, so that a later process
/// reuses the stored tokens without running discovery again.
///
/// ```
/// use mcp_oauth_client::SessionRecord;
///
/// let record = SessionRecord::new(
///     "https://auth.example.com",
///     "https://mcp.example.com/mcp",
///     "client-1",
///     "https://auth.example.com/token",
///     false,
/// );
/// assert_eq!(record.client_id, "client-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The authorization server's issuer identifier.
    pub issuer: String,
    /// The `resource` the tokens were issued for.
    pub resource: String,
    /// The client id the tokens were issued to.
    pub client_id: String,
    /// Where to refresh them.
    pub token_endpoint: String,
    /// Whether the client authenticates with HTTP Basic at that endpoint.
    #[serde(default)]
    pub basic_auth: bool,
}

impl SessionRecord {
    /// A record of tokens from `issuer` for `resource`, issued to
    /// `client_id`, refreshed at `token_endpoint`.
    pub fn new(
        issuer: impl Into<String>,
        resource: impl Into<String>,
        client_id: impl Into<String>,
        token_endpoint: impl Into<String>,
        basic_auth: bool,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            resource: resource.into(),
            client_id: client_id.into(),
            token_endpoint: token_endpoint.into(),
            basic_auth,
        }
    }
}

/// The key of the [`SessionRecord`] of one MCP server for one agent.
///
/// ```
/// use mcp_oauth_client::{MemoryStore, SessionKey, TokenStore};
///
/// let store = MemoryStore::new();
/// let key = SessionKey::new("my-agent", "https://mcp.example.com/mcp");
/// assert_eq!(store.load_session(&key)?, None);
/// # Ok::<(), mcp_oauth_client::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    client_name: String,
    mcp_url: String,
}

impl SessionKey {
    /// The session of the agent `client_name` (its registration name) with
    /// the MCP server at `mcp_url` (its canonical URI).
    pub fn new(client_name: impl Into<String>, mcp_url: impl Into<String>) -> Self {
        Self {
            client_name: client_name.into(),
            mcp_url: mcp_url.into(),
        }
    }

    /// The key of the tokens this session's `record` points at. Tokens are
    /// kept per MCP URL as well as per issuer, resource and client: when an
    /// origin's root metadata document makes the origin the resource, two
    /// servers on that origin still never share a token.
    pub fn tokens_key(&self, record: &SessionRecord) -> TokensKey {
        TokensKey {
            issuer: record.issuer.clone(),
            resource: record.resource.clone(),
            client_id: record.client_id.clone(),
            mcp_url: self.mcp_url.clone(),
        }
    }

    fn entry(&self) -> String {
        format!("session|{}|{}", self.client_name, self.mcp_url)
    }
}

/// The key of the [`Tokens`] for one MCP server; see
/// [`SessionKey::tokens_key`].
///
/// ```
/// use mcp_oauth_client::{SessionKey, SessionRecord};
///
/// let record = SessionRecord::new("https://as.example", "https://mcp.example/mcp", "c1",
///     "https://as.example/token", false);
/// let alice = SessionKey::new("agent", "https://mcp.example/mcp");
/// let bob = SessionKey::new("agent", "https://mcp.example/bob");
/// // Two servers never share tokens, even under one record.
/// assert_ne!(alice.tokens_key(&record), bob.tokens_key(&record));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokensKey {
    issuer: String,
    resource: String,
    client_id: String,
    mcp_url: String,
}

impl TokensKey {
    fn entry(&self) -> String {
        format!(
            "tokens|{}|{}|{}|{}",
            self.issuer, self.resource, self.client_id, self.mcp_url
        )
    }
}

/// The key of an agent's dynamic [`Registration`] at one authorization
/// server.
///
/// ```
/// use mcp_oauth_client::{MemoryStore, Registration, RegistrationKey, TokenStore};
///
/// let store = MemoryStore::new();
/// let key = RegistrationKey::new("my-agent", "https://auth.example.com");
/// let registration = Registration {
///     client_id: "abc".into(),
///     client_secret: None,
///     redirect_uris: vec!["http://127.0.0.1/callback".into()],
/// };
/// store.save_registration(&key, &registration)?;
/// assert_eq!(store.load_registration(&key)?, Some(registration));
/// # Ok::<(), mcp_oauth_client::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistrationKey {
    client_name: String,
    issuer: String,
}

impl RegistrationKey {
    /// The registration of the agent `client_name` at `issuer`.
    pub fn new(client_name: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            client_name: client_name.into(),
            issuer: issuer.into(),
        }
    }

    fn entry(&self) -> String {
        format!("registration|{}|{}", self.client_name, self.issuer)
    }
}

/// Where registrations and tokens live.
///
/// Callers use the typed methods (`load_*`, `save_*`, `remove_tokens`). A
/// backend implements [`get`](Self::get), [`put`](Self::put) and
/// [`remove`](Self::remove): entries are JSON values under opaque names
/// that only this crate builds, and each call must be atomic on its own
/// (the session reads the stored tokens again before a refresh, so agents
/// sharing a store see each other's updates).
///
/// ```
/// use mcp_oauth_client::{MemoryStore, SessionKey, SessionRecord, TokenStore, Tokens};
/// use mcp_oauth_client::core::secret::AccessToken;
///
/// let store = MemoryStore::new();
/// let session = SessionKey::new("my-agent", "https://mcp.example.com/mcp");
/// let record = SessionRecord::new(
///     "https://auth.example.com",
///     "https://mcp.example.com/mcp",
///     "client-1",
///     "https://auth.example.com/token",
///     false,
/// );
/// let tokens = Tokens {
///     access_token: AccessToken::new("at"),
///     refresh_token: None,
///     expires_at: None,
///     refresh_at: None,
///     scope: "mcp".into(),
/// };
/// store.save_tokens(&session.tokens_key(&record), &tokens)?;
/// store.save_session(&session, &record)?;
///
/// let found = store.load_session(&session)?.expect("saved above");
/// assert_eq!(store.load_tokens(&session.tokens_key(&found))?, Some(tokens));
/// # Ok::<(), mcp_oauth_client::StoreError>(())
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// Reads an entry (backend method).
    fn get(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;
    /// Writes an entry (backend method).
    fn put(&self, key: &str, value: serde_json::Value) -> Result<(), StoreError>;
    /// Deletes an entry (backend method).
    fn remove(&self, key: &str) -> Result<(), StoreError>;

    /// The session record of an MCP server, if one was saved.
    fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        read(self, &key.entry())
    }
    /// Saves the session record of an MCP server.
    fn save_session(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), StoreError> {
        write(self, &key.entry(), record)
    }
    /// The tokens under `key`, if any.
    fn load_tokens(&self, key: &TokensKey) -> Result<Option<Tokens>, StoreError> {
        read(self, &key.entry())
    }
    /// Saves tokens under `key`.
    fn save_tokens(&self, key: &TokensKey, tokens: &Tokens) -> Result<(), StoreError> {
        write(self, &key.entry(), tokens)
    }
    /// Forgets the tokens under `key`.
    fn remove_tokens(&self, key: &TokensKey) -> Result<(), StoreError> {
        self.remove(&key.entry())
    }
    /// Forgets the session record of an MCP server.
    fn remove_session(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.remove(&key.entry())
    }
    /// The dynamic registration under `key`, if any.
    fn load_registration(&self, key: &RegistrationKey) -> Result<Option<Registration>, StoreError> {
        read(self, &key.entry())
    }
    /// Saves a dynamic registration under `key`.
    fn save_registration(
        &self,
        key: &RegistrationKey,
        registration: &Registration,
    ) -> Result<(), StoreError> {
        write(self, &key.entry(), registration)
    }
    /// Forgets the dynamic registration under `key`.
    fn remove_registration(&self, key: &RegistrationKey) -> Result<(), StoreError> {
        self.remove(&key.entry())
    }
}

/// Reads the record under `entry`. One that does not decode (written by
/// another version) counts as absent, so the flow replaces it.
fn read<T: DeserializeOwned>(
    store: &(impl TokenStore + ?Sized),
    entry: &str,
) -> Result<Option<T>, StoreError> {
    Ok(store
        .get(entry)?
        .and_then(|value| match serde_json::from_value(value) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(error = %e, "a stored entry has an unknown layout; ignored");
                None
            }
        }))
}

fn write<T: Serialize>(
    store: &(impl TokenStore + ?Sized),
    entry: &str,
    record: &T,
) -> Result<(), StoreError> {
    let value = serde_json::to_value(record).map_err(StoreError::Encode)?;
    store.put(entry, value)
}
