//! [`MemoryStore`]: entries in process memory.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{StoreError, TokenStore};

/// Entries in process memory, for one process: the default store of an
/// [`OAuthClient`](crate::OAuthClient).
///
/// ```
/// use mcp_oauth_client::{MemoryStore, SessionKey, TokenStore};
///
/// let store = MemoryStore::new();
/// let key = SessionKey::new("my-agent", "https://mcp.example.com/mcp");
/// assert_eq!(store.load_session(&key)?, None);
/// # Ok::<(), mcp_oauth_client::StoreError>(())
/// ```
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
