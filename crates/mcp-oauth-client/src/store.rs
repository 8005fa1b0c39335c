//! Token storage: registrations and tokens, keyed by issuer, resource and
//! client, so credentials are never reused with another authorization
//! server or resource.
//!
//! [`MemoryStore`] keeps them for the process; [`FileStore`] keeps them in a
//! file encrypted with XChaCha20-Poly1305, written atomically with 0600
//! permissions. A wrong key or a corrupt file is a clear error: the store
//! never overwrites what it could not read.
//!
//! Several processes may share one [`FileStore`] file: every change is a
//! read-modify-write under an exclusive OS lock on a companion file
//! (`<path>.lock`), so no process loses another's update, and the new
//! content goes to a freshly created temporary file (never an existing
//! one, so a planted symlink is not followed) that is then renamed over
//! the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64ct::{Base64, Encoding};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use mcp_oauth_core::secret::{AccessToken, ClientSecret, RefreshToken};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// A client identity at one authorization server.
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

/// Tokens for one (issuer, resource, client).
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
    /// The key is not 32 bytes (base64 in the environment variable).
    #[error("token store key must be 32 bytes: {0}")]
    Key(String),
    /// The decrypted content is not what this crate writes.
    #[error("token store {0} has an unknown format")]
    Format(PathBuf),
}

/// Where registrations and tokens live.
pub trait TokenStore: Send + Sync + 'static {
    /// Reads an entry.
    fn get(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;
    /// Writes an entry.
    fn put(&self, key: &str, value: serde_json::Value) -> Result<(), StoreError>;
    /// Deletes an entry.
    fn remove(&self, key: &str) -> Result<(), StoreError>;
}

/// Typed helpers over a [`TokenStore`].
pub(crate) fn get_typed<T: serde::de::DeserializeOwned>(
    store: &dyn TokenStore,
    key: &str,
) -> Result<Option<T>, StoreError> {
    Ok(store.get(key)?.and_then(|v| serde_json::from_value(v).ok()))
}

pub(crate) fn put_typed<T: Serialize>(
    store: &dyn TokenStore,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    store.put(
        key,
        serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
    )
}

/// Entries in process memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<String, serde_json::Value>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

impl TokenStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self.map.lock().get(key).cloned())
    }
    fn put(&self, key: &str, value: serde_json::Value) -> Result<(), StoreError> {
        self.map.lock().insert(key.to_owned(), value);
        Ok(())
    }
    fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.map.lock().remove(key);
        Ok(())
    }
}

const MAGIC: &[u8] = b"MCPOAUTH1";

/// Entries in one encrypted file; see the [module documentation](self).
pub struct FileStore {
    path: PathBuf,
    cipher: XChaCha20Poly1305,
    lock: Mutex<()>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// A store in `path`, encrypted with this 32-byte key.
    pub fn encrypted(path: impl Into<PathBuf>, key: [u8; 32]) -> Arc<Self> {
        Arc::new(Self {
            path: path.into(),
            cipher: XChaCha20Poly1305::new(Key::from_slice(&key)),
            lock: Mutex::new(()),
        })
    }

    /// A store whose key is read, base64-encoded, from environment variable
    /// `var`.
    pub fn encrypted_from_env(
        path: impl Into<PathBuf>,
        var: &str,
    ) -> Result<Arc<Self>, StoreError> {
        let text = std::env::var(var).map_err(|_| StoreError::Key(format!("{var} is not set")))?;
        let bytes = Base64::decode_vec(text.trim())
            .map_err(|_| StoreError::Key(format!("{var} is not base64")))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::Key(format!("{var} does not hold 32 bytes")))?;
        Ok(Self::encrypted(path, key))
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read_all(&self) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
        let data = match std::fs::read(&self.path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.io(e)),
        };
        let body = data
            .strip_prefix(MAGIC)
            .ok_or_else(|| StoreError::Format(self.path.clone()))?;
        if body.len() < 24 {
            return Err(StoreError::Decrypt(self.path.clone()));
        }
        let (nonce, ciphertext) = body.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| StoreError::Decrypt(self.path.clone()))?;
        serde_json::from_slice(&plain).map_err(|_| StoreError::Format(self.path.clone()))
    }

    fn write_all(&self, map: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> {
        let plain = serde_json::to_vec(map).map_err(|_| StoreError::Format(self.path.clone()))?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plain.as_slice())
            .map_err(|_| StoreError::Decrypt(self.path.clone()))?;
        let mut out = Vec::with_capacity(MAGIC.len() + 24 + ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        write_atomic(&self.path, &out).map_err(|e| self.io(e))
    }

    /// The companion file whose OS lock serialises the processes that
    /// share the store; nothing is ever written to it.
    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Runs `f` holding the in-process lock and the OS lock on
    /// [`lock_path`](Self::lock_path) (exclusive, or shared for reads). The
    /// wait is as long as another process's read-modify-write: a few
    /// milliseconds.
    fn locked<T>(
        &self,
        exclusive: bool,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _guard = self.lock.lock();
        if !exclusive && !self.path.exists() {
            // Nothing to read yet: no lock file (or directory) is created
            // just for looking.
            return f();
        }
        let path = self.lock_path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(|e| self.io(e))?;
        if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        }
        .map_err(|e| self.io(e))?;
        let result = f();
        // Closing the file releases the lock; unlocking first says so.
        let _ = file.unlock();
        result
    }

    fn update(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, serde_json::Value>),
    ) -> Result<(), StoreError> {
        self.locked(true, || {
            // Read first: an unreadable file is an error, never overwritten.
            let mut map = self.read_all()?;
            f(&mut map);
            self.write_all(&map)
        })
    }
}

/// Replaces `path` with `data`: written to a new temporary file beside it,
/// synced, then renamed over it.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let suffix = mcp_oauth_core::secret::random_base64url(12).map_err(std::io::Error::other)?;
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{suffix}.tmp"));
    let tmp = PathBuf::from(name);
    if let Err(e) = write_new(&tmp, data) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            let _ = std::fs::remove_file(&tmp);
        }
        return Err(e);
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes `data` to a file that must not exist yet (`O_CREAT | O_EXCL`:
/// whatever is there, a symlink included, is an error and left alone),
/// with mode 0600 from the start.
fn write_new(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

impl TokenStore for FileStore {
    fn get(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.locked(false, || Ok(self.read_all()?.get(key).cloned()))
    }
    fn put(&self, key: &str, value: serde_json::Value) -> Result<(), StoreError> {
        self.update(|m| {
            m.insert(key.to_owned(), value);
        })
    }
    fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.update(|m| {
            m.remove(key);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_sharing_a_store_never_lose_each_others_updates() {
        // Each thread has its own FileStore over the same file, as separate
        // processes would: only the OS lock orders their read-modify-writes.
        let path = temp("shared");
        let _ = std::fs::remove_file(&path);
        let writers = 4;
        let keys = 25;
        std::thread::scope(|scope| {
            for w in 0..writers {
                let path = path.clone();
                scope.spawn(move || {
                    let store = FileStore::encrypted(&path, [5; 32]);
                    for k in 0..keys {
                        store
                            .put(&format!("w{w}-k{k}"), serde_json::json!(k))
                            .unwrap();
                    }
                });
            }
        });
        let store = FileStore::encrypted(&path, [5; 32]);
        let map = store.read_all().unwrap();
        assert_eq!(map.len(), writers * keys, "every update survived");
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(store.lock_path()).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_never_followed_by_a_write() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("links");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let planted = dir.join("store.bin.tmp");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let err = write_new(&planted, b"clobbered").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        // The store's own writes use fresh names, created with mode 0600.
        let path = dir.join("store.bin");
        write_atomic(&path, b"data").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("store.bin.") && n != "store.bin.tmp")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("mcp-oauth-store-{}-{name}", std::process::id()))
    }

    #[test]
    fn encrypted_round_trip_wrong_key_and_corruption() {
        let path = temp("a");
        let _ = std::fs::remove_file(&path);
        let store = FileStore::encrypted(&path, [7; 32]);
        store.put("k1", serde_json::json!({"a": 1})).unwrap();
        store
            .put("k2", serde_json::json!("secret-token-value"))
            .unwrap();
        assert_eq!(store.get("k1").unwrap(), Some(serde_json::json!({"a": 1})));
        let raw = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&raw).contains("secret-token-value"),
            "encrypted at rest"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // Another process with the same key reads the same entries.
        let again = FileStore::encrypted(&path, [7; 32]);
        assert_eq!(
            again.get("k2").unwrap(),
            Some(serde_json::json!("secret-token-value"))
        );
        // A wrong key: a clear error, and nothing is overwritten.
        let wrong = FileStore::encrypted(&path, [8; 32]);
        assert!(matches!(wrong.get("k1"), Err(StoreError::Decrypt(_))));
        assert!(matches!(
            wrong.put("k3", serde_json::json!(1)),
            Err(StoreError::Decrypt(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), raw);
        // Corruption: same.
        let mut bad = raw.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(store.get("k1"), Err(StoreError::Decrypt(_))));
        std::fs::write(&path, b"not ours").unwrap();
        assert!(matches!(store.get("k1"), Err(StoreError::Format(_))));
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(store.lock_path()).unwrap();
    }

    #[test]
    fn memory_store_and_typed_helpers() {
        let s = MemoryStore::new();
        let t = Tokens {
            access_token: AccessToken::new("a"),
            refresh_token: Some(RefreshToken::new("r")),
            expires_at: Some(10),
            refresh_at: Some(8),
            scope: "mcp".into(),
        };
        put_typed(s.as_ref(), "t", &t).unwrap();
        assert_eq!(get_typed::<Tokens>(s.as_ref(), "t").unwrap(), Some(t));
        s.remove("t").unwrap();
        assert_eq!(get_typed::<Tokens>(s.as_ref(), "t").unwrap(), None);
    }
}
