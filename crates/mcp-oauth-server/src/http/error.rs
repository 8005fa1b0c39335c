//! [`OAuthError`] as an HTTP response: the RFC 6749 §5.2 JSON body with its
//! status, `Cache-Control: no-store`, a `WWW-Authenticate` challenge on
//! `invalid_client` (Basic) and `invalid_token` (Bearer, RFC 6750 §3), and
//! `Retry-After` when the error carries one.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use mcp_oauth_core::error::ErrorCode;

use crate::oauth::error::OAuthError;

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        r.insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"));
        if self.code() == &ErrorCode::InvalidClient {
            r.insert_header((WWW_AUTHENTICATE, "Basic realm=\"mcp-oauth\""));
        }
        if self.code() == &ErrorCode::InvalidToken {
            r.insert_header((
                WWW_AUTHENTICATE,
                "Bearer realm=\"mcp-oauth\", error=\"invalid_token\"",
            ));
        }
        if let Some(seconds) = self.retry_after() {
            r.insert_header((RETRY_AFTER, seconds.to_string()));
        }
        r.json(self.body())
    }
}
