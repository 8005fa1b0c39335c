//! [`FileStore`]: entries in one file, encrypted, shared safely between
//! processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64ct::{Base64, Encoding};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use parking_lot::Mutex;

use super::{StoreError, TokenStore};

const MAGIC: &[u8] = b"MCPOAUTH1";

/// Entries in one file encrypted with XChaCha20-Poly1305, written
/// atomically with 0600 permissions. A wrong key or a corrupt file is a
/// clear error ([`StoreError::Decrypt`], [`StoreError::Format`]): the store
/// never overwrites what it could not read.
///
/// Several processes may share one file: every change is a
/// read-modify-write under an exclusive OS lock on a companion file
/// (`<path>.lock`), so no process loses another's update, and the new
/// content goes to a freshly created temporary file (never an existing one,
/// so a planted symlink is not followed) that is then renamed over the
/// store.
///
/// ```
/// use mcp_oauth_client::{FileStore, RegistrationKey, Registration, StoreError, TokenStore};
///
/// let dir = std::env::temp_dir().join(format!("mcp-oauth-doc-{}", std::process::id()));
/// let path = dir.join("tokens.bin");
/// let key = RegistrationKey::new("my-agent", "https://auth.example.com");
/// let registration = Registration {
///     client_id: "abc".into(),
///     client_secret: None,
///     redirect_uris: Vec::new(),
/// };
/// FileStore::encrypted(&path, [7; 32]).save_registration(&key, &registration)?;
///
/// // Another process with the same key reads it; a wrong key cannot.
/// let again = FileStore::encrypted(&path, [7; 32]);
/// assert_eq!(again.load_registration(&key)?, Some(registration));
/// let wrong = FileStore::encrypted(&path, [8; 32]);
/// assert!(matches!(wrong.load_registration(&key), Err(StoreError::Decrypt(_))));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), StoreError>(())
/// ```
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

/// A new random key for [`FileStore::encrypted`]: 32 bytes from the
/// operating system's generator.
///
/// ```
/// use mcp_oauth_client::FileStore;
/// use mcp_oauth_client::store::generate_key;
///
/// let (a, b) = (generate_key(), generate_key());
/// assert_ne!(a, b);
/// let store = FileStore::encrypted("tokens.bin", a);
/// # let _ = store;
/// ```
pub fn generate_key() -> [u8; 32] {
    XChaCha20Poly1305::generate_key(&mut OsRng).into()
}

/// A new random key, base64-encoded as [`FileStore::encrypted_from_env`]
/// reads it: `export MCP_OAUTH_TOKEN_KEY=$(cargo run -q -p
/// mcp-oauth-examples --example store_key)` prints one into the variable
/// the example agent reads.
///
/// ```
/// use mcp_oauth_client::store::generate_key_base64;
///
/// let key = generate_key_base64();
/// assert_eq!(key.len(), 44); // 32 bytes, padded base64
/// ```
pub fn generate_key_base64() -> String {
    Base64::encode_string(&generate_key())
}

impl FileStore {
    /// A store in `path`, encrypted with this 32-byte key. Nothing is read
    /// or written until the store is used.
    ///
    /// ```
    /// use mcp_oauth_client::{FileStore, OAuthClient};
    ///
    /// let client = OAuthClient::builder("my-agent")
    ///     .token_store(FileStore::encrypted("tokens.bin", [0u8; 32]))
    ///     .build()?;
    /// # let _ = client; Ok::<(), mcp_oauth_client::ClientError>(())
    /// ```
    pub fn encrypted(path: impl Into<PathBuf>, key: [u8; 32]) -> Arc<Self> {
        Arc::new(Self {
            path: path.into(),
            cipher: XChaCha20Poly1305::new(Key::from_slice(&key)),
            lock: Mutex::new(()),
        })
    }

    /// A store whose key is read, base64-encoded, from environment variable
    /// `var`.
    ///
    /// ```
    /// use mcp_oauth_client::{FileStore, StoreError};
    ///
    /// let missing = FileStore::encrypted_from_env("tokens.bin", "MCP_OAUTH_DOC_UNSET_KEY");
    /// assert!(matches!(missing, Err(StoreError::Key { problem: "is not set", .. })));
    /// ```
    pub fn encrypted_from_env(
        path: impl Into<PathBuf>,
        var: &str,
    ) -> Result<Arc<Self>, StoreError> {
        let key_error =
            |problem, source: Option<Box<dyn std::error::Error + Send + Sync>>| StoreError::Key {
                var: var.to_owned(),
                problem,
                source,
            };
        let text = std::env::var(var).map_err(|e| key_error("is not set", Some(e.into())))?;
        let bytes = Base64::decode_vec(text.trim())
            .map_err(|e| key_error("is not base64", Some(e.into())))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| key_error("does not hold 32 bytes", None))?;
        Ok(Self::encrypted(path, key))
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    pub(super) fn read_all(&self) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
        let data = match std::fs::read(&self.path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.io(e)),
        };
        let body = data.strip_prefix(MAGIC).ok_or_else(|| StoreError::Format {
            path: self.path.clone(),
            source: None,
        })?;
        if body.len() < 24 {
            return Err(StoreError::Decrypt(self.path.clone()));
        }
        let (nonce, ciphertext) = body.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| StoreError::Decrypt(self.path.clone()))?;
        serde_json::from_slice(&plain).map_err(|e| StoreError::Format {
            path: self.path.clone(),
            source: Some(e),
        })
    }

    fn write_all(&self, map: &BTreeMap<String, serde_json::Value>) -> Result<(), StoreError> {
        let plain = serde_json::to_vec(map).map_err(StoreError::Encode)?;
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
    pub(super) fn lock_path(&self) -> PathBuf {
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
pub(super) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
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
pub(super) fn write_new(path: &Path, data: &[u8]) -> std::io::Result<()> {
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
