//! Why a token could not be checked: the authorization server (its
//! metadata, key set or introspection endpoint) could not be used.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// The authorization server could not be used to check a token: what
/// failed, and the underlying error when there is one. Cheap to clone (one
/// verdict is shared by every request that waited for the same fetch).
///
/// ```
/// use mcp_oauth_verifier::{Rejection, Unavailable};
///
/// let e = Unavailable::new("the JWK Set could not be fetched");
/// assert_eq!(e.to_string(), "the JWK Set could not be fetched");
/// assert!(std::error::Error::source(&e).is_none());
/// assert_eq!(Rejection::Unavailable(e).status(), 503);
/// ```
#[derive(Debug, Clone)]
pub struct Unavailable {
    reason: String,
    source: Option<Arc<dyn Error + Send + Sync + 'static>>,
}

impl Unavailable {
    /// A failure described by `reason`, without an underlying error.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            source: None,
        }
    }

    /// A failure described by `reason`, caused by `source`.
    ///
    /// ```
    /// use mcp_oauth_verifier::Unavailable;
    ///
    /// let io = std::io::Error::other("connection refused");
    /// let e = Unavailable::caused_by("introspection", io);
    /// assert_eq!(e.reason(), "introspection");
    /// assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "connection refused");
    /// ```
    pub fn caused_by(
        reason: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            reason: reason.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// What failed.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl Error for Unavailable {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Two failures are the same when they say the same thing (the sources of
/// network errors cannot be compared).
impl PartialEq for Unavailable {
    fn eq(&self, other: &Self) -> bool {
        self.reason == other.reason
    }
}
