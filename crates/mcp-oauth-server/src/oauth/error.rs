//! The one error type of the OAuth services: an RFC 6749 §5.2 error body
//! with the HTTP status it is sent with, an optional `Retry-After`, and the
//! failure that caused it, if any.

use std::fmt;

use mcp_oauth_core::error::{ErrorCode, ErrorResponse};

use crate::storage::StorageError;

/// An error a service answers with: the OAuth error body, its HTTP status,
/// and, for limits, how long to wait.
///
/// The status follows the error code ([`ErrorCode::http_status`]) unless a
/// constructor says otherwise: [`OAuthError::too_many_requests`] is 429
/// (RFC 6585).
///
/// ```
/// use mcp_oauth_server::OAuthError;
/// use mcp_oauth_server::core::error::{ErrorCode, ErrorResponse};
///
/// let e = OAuthError::from(ErrorResponse::invalid_grant("the code was already used"));
/// assert_eq!(e.status(), 400);
/// assert_eq!(e.code(), &ErrorCode::InvalidGrant);
///
/// let limited = OAuthError::too_many_requests("slow down").with_retry_after(30);
/// assert_eq!(limited.status(), 429);
/// assert_eq!(limited.body().error.as_str(), "too_many_requests");
/// assert_eq!(limited.retry_after(), Some(30));
/// ```
#[derive(Debug)]
pub struct OAuthError(Box<Inner>);

/// Boxed: results of services stay one pointer wide on the error side.
#[derive(Debug)]
struct Inner {
    body: ErrorResponse,
    status: u16,
    retry_after: Option<u64>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl OAuthError {
    /// An error with this body, sent with the status its code calls for.
    pub fn new(body: ErrorResponse) -> Self {
        let status = body.status();
        Self(Box::new(Inner {
            body,
            status,
            retry_after: None,
            source: None,
        }))
    }

    /// An abuse limit was reached: `too_many_requests`, status 429.
    pub fn too_many_requests(description: impl AsRef<str>) -> Self {
        let mut e = Self::new(
            ErrorResponse::new(ErrorCode::Other("too_many_requests".into()))
                .with_description(description),
        );
        e.0.status = 429;
        e
    }

    /// An error of the token endpoint (RFC 6749 §5.2): 400 whatever the
    /// code, except `invalid_client` (401) and the server's own failures.
    ///
    /// ```
    /// use mcp_oauth_server::OAuthError;
    /// use mcp_oauth_server::core::error::{ErrorCode, ErrorResponse};
    ///
    /// let denied = OAuthError::token_endpoint(ErrorResponse::new(ErrorCode::AccessDenied));
    /// assert_eq!(denied.status(), 400);
    /// ```
    pub fn token_endpoint(body: ErrorResponse) -> Self {
        let mut e = Self::new(body);
        if e.0.status == 403 {
            e.0.status = 400;
        }
        e
    }

    /// Asks the caller to wait this many seconds (`Retry-After`).
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.0.retry_after = Some(seconds);
        self
    }

    /// Keeps the failure that caused this error, for logs and
    /// [`std::error::Error::source`]; the caller sees only the body.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// The JSON body (RFC 6749 §5.2).
    pub fn body(&self) -> &ErrorResponse {
        &self.0.body
    }

    /// The error code.
    pub fn code(&self) -> &ErrorCode {
        &self.0.body.error
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// Seconds the caller should wait before trying again, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.0.retry_after
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.body, f)
    }
}

impl std::error::Error for OAuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<ErrorResponse> for OAuthError {
    fn from(body: ErrorResponse) -> Self {
        Self::new(body)
    }
}

impl From<StorageError> for OAuthError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "storage failure");
        Self::new(
            ErrorResponse::new(ErrorCode::TemporarilyUnavailable)
                .with_description("storage is unavailable"),
        )
        .with_source(e)
    }
}

/// The result of a service.
pub type OAuthResult<T> = Result<T, OAuthError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_code_and_limits_are_429() {
        assert_eq!(
            OAuthError::from(ErrorResponse::invalid_client("x")).status(),
            401
        );
        assert_eq!(
            OAuthError::from(ErrorResponse::server_error("x")).status(),
            500
        );
        // A code that merely starts like a limit is not one.
        let other = ErrorResponse::new(ErrorCode::Other("too_many_cooks".into()));
        assert_eq!(OAuthError::from(other).status(), 400);
        assert_eq!(OAuthError::too_many_requests("x").status(), 429);
    }

    #[test]
    fn storage_failures_keep_their_source() {
        let e = OAuthError::from(StorageError::Conflict);
        assert_eq!(e.status(), 503);
        let source = std::error::Error::source(&e).expect("source kept");
        assert_eq!(source.to_string(), StorageError::Conflict.to_string());
        assert!(!e.to_string().contains(&source.to_string()));
    }
}
