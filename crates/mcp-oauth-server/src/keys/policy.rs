//! How the server keeps its signing keys: the algorithm, automatic
//! rotation with publication ahead of use, and encryption at rest.

use std::time::Duration;

use super::material::SigningAlgorithm;
use super::seal::KeyEncryptionKey;

/// The signing-key policy (`ServerConfig::keys`).
///
/// ```
/// use std::time::Duration;
/// use mcp_oauth_server::keys::{KeyPolicy, SigningAlgorithm};
///
/// let policy = KeyPolicy::default();
/// assert_eq!(policy.algorithm, SigningAlgorithm::Es256);
/// assert_eq!(policy.rotation, Some(Duration::from_secs(30 * 86_400)));
/// assert_eq!(policy.publish_ahead, Duration::from_secs(86_400));
/// assert!(policy.encryption_key.is_none());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeyPolicy {
    /// The algorithm new keys are made for. Changing it makes the next key
    /// one of the new algorithm, published `publish_ahead` before it signs;
    /// the JWKS carries both meanwhile.
    pub algorithm: SigningAlgorithm,
    /// How long a key signs before its successor takes over (`None`: only
    /// on demand, with `key rotate`).
    pub rotation: Option<Duration>,
    /// How long a new key is published in the JWKS before it signs: longer
    /// than any verifier caches the JWKS, so no verifier meets a token
    /// whose key it has not seen.
    pub publish_ahead: Duration,
    /// Encrypts the private keys in storage (new keys are stored sealed;
    /// sealed keys need it to load). `None` stores them as they are, in a
    /// file only its owner can read.
    pub encryption_key: Option<KeyEncryptionKey>,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            algorithm: SigningAlgorithm::Es256,
            rotation: Some(Duration::from_secs(30 * 86_400)),
            publish_ahead: Duration::from_secs(86_400),
            encryption_key: None,
        }
    }
}
