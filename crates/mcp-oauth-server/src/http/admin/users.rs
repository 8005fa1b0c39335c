//! `/admin/v1/users`: list, add, set a password, remove. A password change
//! or a removal ends everything the user holds (sessions, refresh tokens).

use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth_core::secret::Password;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, decode_json};
use crate::admin::{
    add_user, change_password, check_username, generate_password, list_users, remove_user,
};
use crate::app::AuthServer;
use crate::oauth::audit::AuditKind;

/// The local users.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserList {
    /// Their names.
    users: Vec<String>,
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    /// 1 to 128 characters, no `:` and no control characters.
    username: String,
    /// The password (default: generated, and returned this once).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    password: Option<Password>,
}

/// A new password.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewPassword {
    /// The password (default: generated, and returned this once).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    password: Option<Password>,
}

/// A user saved.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SavedUser {
    /// The name.
    username: String,
    /// The generated password, only when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    password: Option<Password>,
}

/// The given password, or a generated one to return.
fn password_or_generated(
    given: Option<Password>,
) -> Result<(Password, Option<Password>), ApiError> {
    match given {
        Some(p) if p.secret().is_empty() => Err(ApiError::bad_request("the password is empty")),
        Some(p) => Ok((p, None)),
        None => {
            let p = generate_password()?;
            Ok((p.clone(), Some(p)))
        }
    }
}

/// Lists the local users' names.
#[utoipa::path(get, path = "/admin/v1/users", tag = "users",
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list(state: web::Data<AuthServer>) -> Result<HttpResponse, ApiError> {
    let users = list_users(state.storage()).await?;
    Ok(HttpResponse::Ok().json(UserList { users }))
}

/// Adds a user. Without a password, one is generated and returned in this
/// answer only.
#[utoipa::path(post, path = "/admin/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = SavedUser), (status = 400, body = ErrorBody),
        (status = 409, description = "the user exists", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn add(
    state: web::Data<AuthServer>,
    req_http: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let req: NewUser = decode_json(&body)?;
    check_username(&req.username).map_err(ApiError::bad_request)?;
    let (password, generated) = password_or_generated(req.password)?;
    add_user(state.storage(), &req.username, password.secret()).await?;
    let entry = AuditKind::UserAdded.entry().subject(&req.username);
    super::audit(&state, &req_http, entry).await;
    Ok(HttpResponse::Created().json(SavedUser {
        username: req.username,
        password: generated,
    }))
}

/// Sets a user's password, ending their sessions and grants. Without a
/// password, one is generated and returned in this answer only.
#[utoipa::path(put, path = "/admin/v1/users/{username}/password", tag = "users",
    params(("username" = String, Path, description = "the user")),
    request_body = NewPassword,
    responses((status = 200, body = SavedUser), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn set(
    state: web::Data<AuthServer>,
    req_http: HttpRequest,
    username: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let username = username.into_inner();
    let req: NewPassword = if body.is_empty() {
        NewPassword::default()
    } else {
        decode_json(&body)?
    };
    let (password, generated) = password_or_generated(req.password)?;
    if !change_password(state.storage(), &username, password.secret(), state.now()).await? {
        return Err(ApiError::not_found(format!("no user {username}")));
    }
    let entry = AuditKind::PasswordChanged.entry().subject(&username);
    super::audit(&state, &req_http, entry).await;
    Ok(HttpResponse::Ok().json(SavedUser {
        username,
        password: generated,
    }))
}

/// Removes a user, ending their sessions and grants.
#[utoipa::path(delete, path = "/admin/v1/users/{username}", tag = "users",
    params(("username" = String, Path, description = "the user")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn remove(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if remove_user(state.storage(), &username, state.now()).await? {
        let entry = AuditKind::UserRemoved.entry().subject(&username);
        super::audit(&state, &req, entry).await;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("no user {username}")))
    }
}
