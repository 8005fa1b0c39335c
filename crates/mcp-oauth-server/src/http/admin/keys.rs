//! `/admin/v1/keys`: list and rotate the signing keys.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use crate::admin::keys::{KeyView, list_keys};
use crate::app::AuthServer;
use crate::keys::Withdrawal;
use crate::oauth::audit::AuditKind;

/// The signing keys.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct KeyList {
    /// Every key, the retired ones included.
    keys: Vec<KeyView>,
}

/// A key just made.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RotatedKey {
    /// Its `kid`, published at once.
    kid: String,
    /// When it starts to sign (seconds since the epoch), at every instance
    /// within a minute of that time.
    activates_at: u64,
}

/// How to rotate.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct RotateQuery {
    /// Sign with the new key at once instead of after the publication
    /// period (for a key no longer trusted; verifiers must fetch the JWKS
    /// again on the unknown `kid`).
    #[serde(default)]
    immediate: bool,
}

/// Lists the signing keys (never their private parts).
#[utoipa::path(get, path = "/admin/v1/keys", tag = "keys",
    responses((status = 200, body = KeyList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list(state: web::Data<AuthServer>) -> Result<HttpResponse, ApiError> {
    let keys = list_keys(state.storage(), state.now()).await?;
    Ok(HttpResponse::Ok().json(KeyList { keys }))
}

/// Generates the next signing key, published at once; it signs after the
/// publication period (`key_publish_ahead`, a day by default), or at once
/// with `immediate=true`. The previous key stops signing then and stays
/// published until its tokens expire.
#[utoipa::path(post, path = "/admin/v1/keys/rotate", tag = "keys", params(RotateQuery),
    responses((status = 201, body = RotatedKey), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn rotate(
    state: web::Data<AuthServer>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: RotateQuery = super::accounts::query(&req)?;
    let next = state.rotate_signing_key(q.immediate).await?;
    let entry = AuditKind::KeyRotated.entry().subject(&next.kid);
    super::audit(&state, &req, entry).await;
    Ok(HttpResponse::Created().json(RotatedKey {
        kid: next.kid,
        activates_at: next.activates_at,
    }))
}

/// A key withdrawn.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetiredKey {
    /// Its `kid`: no longer in `/jwks`; the tokens it signed no longer
    /// verify (here at once, at other instances within a minute).
    kid: String,
}

/// Withdraws a retired key (one that no longer signs) from publication at
/// once, for a key no longer trusted. The active key is refused (409):
/// rotate first.
#[utoipa::path(post, path = "/admin/v1/keys/{kid}/retire", tag = "keys",
    params(("kid" = String, Path, description = "the key's kid")),
    responses((status = 200, body = RetiredKey), (status = 404, body = ErrorBody),
        (status = 409, description = "the active key", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn retire(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    kid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let kid = kid.into_inner();
    match state.retire_signing_key(&kid).await? {
        Withdrawal::Withdrawn => {
            super::audit(&state, &req, AuditKind::KeyRetired.entry().subject(&kid)).await;
            Ok(HttpResponse::Ok().json(RetiredKey { kid }))
        }
        Withdrawal::Active => Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "active_key",
            "this key signs now: rotate first, then retire it",
        )),
        _ => Err(ApiError::not_found(format!("no signing key {kid}"))),
    }
}
