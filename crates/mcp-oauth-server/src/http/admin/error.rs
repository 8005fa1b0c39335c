//! The admin API's errors as HTTP answers: an RFC 6749-style JSON body
//! (`error`, `error_description`) with its status.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::UserError;
use crate::admin::clients::ClientAdminError;
use crate::admin_api::AdminAuthError;
use crate::keys::KeyError;
use crate::storage::StorageError;
use mcp_oauth_core::secret::RandomnessError;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// A code: `invalid_request`, `invalid_client_metadata`, `not_found`,
    /// `already_exists`, `active_key`, `invalid_token`,
    /// `insufficient_scope`, `server_error`.
    error: &'static str,
    /// What went wrong, for a person.
    error_description: String,
}

/// An admin API call failed.
#[derive(Debug, thiserror::Error)]
#[error("{description}")]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
    /// What the caller is asked for (`WWW-Authenticate`), on 401 and 403.
    challenge: Option<String>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            challenge: None,
        }
    }

    /// 400 `invalid_request`.
    pub(super) fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 404 `not_found`.
    pub(super) fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// 409 `already_exists`.
    pub(super) fn exists(description: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "already_exists", description)
    }

    /// 500 `server_error`; the cause is logged, not sent.
    fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error, "admin API call failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the server could not complete the operation",
        )
    }
}

/// The realm of the admin API's bearer challenges.
const REALM: &str = "mcp-oauth-admin";

impl From<&AdminAuthError> for ApiError {
    fn from(e: &AdminAuthError) -> Self {
        match e {
            AdminAuthError::Disabled => Self::not_found("not found"),
            AdminAuthError::MissingToken => Self {
                challenge: Some(format!("Bearer realm=\"{REALM}\"")),
                ..Self::new(StatusCode::UNAUTHORIZED, "invalid_request", e.to_string())
            },
            AdminAuthError::InvalidToken(why) => Self {
                challenge: Some(format!(
                    "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{why}\""
                )),
                ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", *why)
            },
            AdminAuthError::InsufficientScope => Self {
                challenge: Some(format!(
                    "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{}\"",
                    crate::config::ADMIN_SCOPE
                )),
                ..Self::new(StatusCode::FORBIDDEN, "insufficient_scope", e.to_string())
            },
            _ => Self::internal(e),
        }
    }
}

impl From<ClientAdminError> for ApiError {
    fn from(e: ClientAdminError) -> Self {
        match &e {
            ClientAdminError::Grant(_) | ClientAdminError::Invalid(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                e.to_string(),
            ),
            ClientAdminError::Exists(_) => Self::exists(e.to_string()),
            ClientAdminError::NotFound(_) => Self::not_found(e.to_string()),
            ClientAdminError::NoSecretToRotate(_) => Self::bad_request(e.to_string()),
            _ => Self::internal(&e),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match &e {
            UserError::InvalidName(why) => Self::bad_request(*why),
            UserError::Exists(_) => Self::exists(e.to_string()),
            _ => Self::internal(&e),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        Self::internal(&e)
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        Self::internal(&e)
    }
}

impl From<RandomnessError> for ApiError {
    fn from(e: RandomnessError) -> Self {
        Self::internal(&e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        r.insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"));
        if let Some(challenge) = &self.challenge {
            r.insert_header((WWW_AUTHENTICATE, challenge.as_str()));
        }
        r.json(ErrorBody {
            error: self.code,
            error_description: self.description.clone(),
        })
    }
}

/// Decodes a JSON object request body, or answers `invalid_request` saying
/// why (an array is refused, though serde would read it as a struct).
pub(super) fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let malformed =
        |e: serde_json::Error| ApiError::bad_request(format!("malformed JSON body: {e}"));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(malformed)?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(malformed)
}
