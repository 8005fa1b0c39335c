//! OAuth errors as HTTP responses: the RFC 6749 §5.2 JSON form with the
//! right status, `Cache-Control: no-store`, and a `WWW-Authenticate`
//! challenge on 401 `invalid_client`.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use mcp_oauth_core::error::{ErrorCode, ErrorResponse};

use crate::storage::StorageError;

/// An error an endpoint answers with.
#[derive(Debug)]
pub struct OAuthHttpError(pub ErrorResponse);

impl std::fmt::Display for OAuthHttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl From<ErrorResponse> for OAuthHttpError {
    fn from(e: ErrorResponse) -> Self {
        Self(e)
    }
}

impl From<StorageError> for OAuthHttpError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "storage failure");
        Self(
            ErrorResponse::new(ErrorCode::TemporarilyUnavailable)
                .with_description("storage is unavailable"),
        )
    }
}

impl From<crate::app::ClientLookupError> for OAuthHttpError {
    fn from(e: crate::app::ClientLookupError) -> Self {
        match e {
            crate::app::ClientLookupError::Storage(e) => e.into(),
            crate::app::ClientLookupError::Metadata(e) => {
                tracing::info!(error = ?e.to_string(), "client metadata document refused");
                Self(ErrorResponse::invalid_client(
                    "the client's metadata document could not be fetched or is not valid",
                ))
            }
            e @ crate::app::ClientLookupError::Throttled { .. } => Self(
                ErrorResponse::new(ErrorCode::Other("too_many_requests".into()))
                    .with_description(e.to_string()),
            ),
        }
    }
}

impl ResponseError for OAuthHttpError {
    fn status_code(&self) -> StatusCode {
        match &self.0.error {
            // Abuse limits answer 429 (RFC 6585) with the OAuth error body.
            ErrorCode::Other(code) if code.starts_with("too_many") => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::BAD_REQUEST),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        r.insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"));
        if self.0.error == ErrorCode::InvalidClient {
            r.insert_header((WWW_AUTHENTICATE, "Basic realm=\"mcp-oauth\""));
        }
        r.json(&self.0)
    }
}

/// Result type of the endpoints.
pub type OAuthResult<T> = Result<T, OAuthHttpError>;
