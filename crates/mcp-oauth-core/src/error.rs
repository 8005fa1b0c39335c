//! OAuth error responses: RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1,
//! RFC 7591 §3.2.2, RFC 7009 §2.2.1 and RFC 8707 §2.
//!
//! ```
//! use mcp_oauth_core::error::{ErrorCode, ErrorResponse};
//!
//! let e = ErrorResponse::new(ErrorCode::InvalidGrant)
//!     .with_description("authorization code was already used");
//! assert_eq!(e.status(), 400);
//! assert_eq!(
//!     serde_json::to_string(&e)?,
//!     r#"{"error":"invalid_grant","error_description":"authorization code was already used"}"#
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::macros::open_enum;

open_enum! {
    /// The `error` code of an OAuth error response. Codes this crate does not
    /// know are kept verbatim in [`ErrorCode::Other`].
    pub enum ErrorCode (
        /// Any other code, kept verbatim.
        Other
    ) {
        /// RFC 6749: the request is missing a parameter, repeats one, or is
        /// otherwise malformed.
        InvalidRequest => "invalid_request",
        /// RFC 6749 §5.2: client authentication failed.
        InvalidClient => "invalid_client",
        /// RFC 6749 §5.2: the grant (code, refresh token) is invalid, expired,
        /// revoked, or was issued to another client or redirect URI.
        InvalidGrant => "invalid_grant",
        /// RFC 6749: the client may not use this grant or response type.
        UnauthorizedClient => "unauthorized_client",
        /// RFC 6749 §5.2: the grant type is not supported.
        UnsupportedGrantType => "unsupported_grant_type",
        /// RFC 6749: the requested scope is invalid, unknown or too wide.
        InvalidScope => "invalid_scope",
        /// RFC 6749 §4.1.2.1: the resource owner or server denied the request.
        AccessDenied => "access_denied",
        /// RFC 6749 §4.1.2.1: the response type is not supported.
        UnsupportedResponseType => "unsupported_response_type",
        /// RFC 6749 §4.1.2.1: the server hit an unexpected condition.
        ServerError => "server_error",
        /// RFC 6749 §4.1.2.1: the server is overloaded or down for maintenance.
        TemporarilyUnavailable => "temporarily_unavailable",
        /// RFC 6750 §3.1: the access token is expired, revoked or malformed.
        InvalidToken => "invalid_token",
        /// RFC 6750 §3.1: the token lacks the scope the request needs.
        InsufficientScope => "insufficient_scope",
        /// RFC 8707 §2: the `resource` is invalid or not allowed.
        InvalidTarget => "invalid_target",
        /// RFC 7591 §3.2.2: a redirect URI is invalid.
        InvalidRedirectUri => "invalid_redirect_uri",
        /// RFC 7591 §3.2.2: a client metadata field is invalid.
        InvalidClientMetadata => "invalid_client_metadata",
        /// RFC 7591 §3.2.2: the software statement is invalid.
        InvalidSoftwareStatement => "invalid_software_statement",
        /// RFC 7591 §3.2.2: the software statement is not approved.
        UnapprovedSoftwareStatement => "unapproved_software_statement",
        /// RFC 7009 §2.2.1: revocation of this token type is not supported.
        UnsupportedTokenType => "unsupported_token_type",
        /// RFC 8628 §3.5: the person has not decided yet; poll again.
        AuthorizationPending => "authorization_pending",
        /// RFC 8628 §3.5: polling too fast; wait 5 s longer from now on.
        SlowDown => "slow_down",
        /// RFC 8628 §3.5: the device code expired; start again.
        ExpiredToken => "expired_token",
    }
}

impl ErrorCode {
    /// The HTTP status an error with this code is sent with from the token,
    /// registration, introspection or revocation endpoints, and from a
    /// protected resource (RFC 6749 §5.2, RFC 6750 §3.1).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope | Self::AccessDenied => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An OAuth error response body, as JSON (RFC 6749 §5.2) or as query
/// parameters of an error redirect (§4.1.2.1, where `state` and `iss` join
/// it). Also the RFC 7591 registration error.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error code.
    pub error: ErrorCode,
    /// Human-readable ASCII text for the developer, never for end users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// A page about the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    /// Fields this type does not model, kept for round-trips.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The RFC 7591 §3.2.2 registration error has the same shape.
pub type RegistrationError = ErrorResponse;

impl ErrorResponse {
    /// An error with only its code.
    pub fn new(error: ErrorCode) -> Self {
        Self {
            error,
            error_description: None,
            error_uri: None,
            extra: BTreeMap::new(),
        }
    }

    /// Adds an `error_description`. Characters outside the printable ASCII
    /// set RFC 6749 allows (`%x20-21 / %x23-5B / %x5D-7E`) are replaced by
    /// `?`, so the text is safe in a header or a query string.
    pub fn with_description(mut self, description: impl AsRef<str>) -> Self {
        self.error_description = Some(sanitize_description(description.as_ref()));
        self
    }

    /// Adds an `error_uri`.
    pub fn with_uri(mut self, uri: impl Into<String>) -> Self {
        self.error_uri = Some(uri.into());
        self
    }

    /// Shorthand for `invalid_request` with a description.
    pub fn invalid_request(description: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidRequest).with_description(description)
    }

    /// Shorthand for `invalid_client` with a description.
    pub fn invalid_client(description: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidClient).with_description(description)
    }

    /// Shorthand for `invalid_grant` with a description.
    pub fn invalid_grant(description: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidGrant).with_description(description)
    }

    /// Shorthand for `invalid_scope` with a description.
    pub fn invalid_scope(description: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidScope).with_description(description)
    }

    /// Shorthand for `invalid_target` with a description.
    pub fn invalid_target(description: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidTarget).with_description(description)
    }

    /// Shorthand for `server_error` with a description.
    pub fn server_error(description: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::ServerError).with_description(description)
    }

    /// The HTTP status for this error; see [`ErrorCode::http_status`].
    pub fn status(&self) -> u16 {
        self.error.http_status()
    }
}

/// Replaces every character RFC 6749 §5.2 forbids in `error_description`
/// with `?`.
pub fn sanitize_description(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E' => c,
            _ => '?',
        })
        .collect()
}

impl fmt::Debug for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error.as_str())?;
        if let Some(d) = &self.error_description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorResponse {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_codes_round_trip() {
        for code in [
            "invalid_request",
            "invalid_target",
            "insufficient_scope",
            "slow_down",
        ] {
            let parsed = ErrorCode::from(code);
            assert_eq!(parsed.as_str(), code);
            assert_eq!(serde_json::to_value(&parsed).unwrap(), code);
        }
        assert_eq!(ErrorCode::from("slow_down"), ErrorCode::SlowDown);
        assert_eq!(
            ErrorCode::from("temporarily_slow"),
            ErrorCode::Other("temporarily_slow".into())
        );
    }

    #[test]
    fn statuses_follow_the_rfcs() {
        assert_eq!(ErrorCode::InvalidClient.http_status(), 401);
        assert_eq!(ErrorCode::InvalidToken.http_status(), 401);
        assert_eq!(ErrorCode::InsufficientScope.http_status(), 403);
        assert_eq!(ErrorCode::InvalidGrant.http_status(), 400);
        assert_eq!(ErrorCode::InvalidRedirectUri.http_status(), 400);
        assert_eq!(ErrorCode::TemporarilyUnavailable.http_status(), 503);
    }

    #[test]
    fn rfc6749_example_round_trips_and_keeps_unknown_fields() {
        let text = r#"{"error":"invalid_request","error_description":"x","trace":"abc"}"#;
        let e: ErrorResponse = serde_json::from_str(text).unwrap();
        assert_eq!(e.error, ErrorCode::InvalidRequest);
        assert_eq!(e.extra["trace"], "abc");
        assert_eq!(serde_json::to_string(&e).unwrap(), text);
    }

    #[test]
    fn descriptions_are_sanitized() {
        let e = ErrorResponse::invalid_request("bad \"quote\"\r\nInjected: header é");
        assert_eq!(
            e.error_description.as_deref(),
            Some("bad ?quote???Injected: header ?")
        );
        assert_eq!(
            e.to_string(),
            "invalid_request: bad ?quote???Injected: header ?"
        );
    }
}
