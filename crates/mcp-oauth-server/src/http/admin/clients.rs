//! `/admin/v1/clients`: create trusted clients, list, show, rotate a
//! secret, remove.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, decode_json};
use crate::admin::clients::{
    ClientView, CreatedClient, NewClient, RotatedSecret, create_client, describe_client,
    list_clients, remove_client, rotate_secret,
};
use crate::app::AuthServer;
use crate::oauth::audit::AuditKind;

/// The clients in storage (trusted and registered; the configuration's own
/// are not listed).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ClientList {
    /// The clients.
    clients: Vec<ClientView>,
}

/// Lists the clients in storage.
#[utoipa::path(get, path = "/admin/v1/clients", tag = "clients",
    responses((status = 200, body = ClientList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list(state: web::Data<AuthServer>) -> Result<HttpResponse, ApiError> {
    let clients = list_clients(state.storage()).await?;
    Ok(HttpResponse::Ok().json(ClientList { clients }))
}

/// Creates a trusted client. Its secret (for the secret methods) is in
/// this answer only.
#[utoipa::path(post, path = "/admin/v1/clients", tag = "clients", request_body = NewClient,
    responses((status = 201, body = CreatedClient), (status = 400, body = ErrorBody),
        (status = 409, description = "the client id is taken", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn create(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let new: NewClient = decode_json(&body)?;
    let created = create_client(state.storage(), new, state.now()).await?;
    let entry = AuditKind::ClientCreated.entry().subject(&created.client_id);
    super::audit(&state, &req, entry).await;
    Ok(HttpResponse::Created().json(created))
}

/// Shows one client.
#[utoipa::path(get, path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "the client id, percent-encoded")),
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn show(
    state: web::Data<AuthServer>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(describe_client(state.storage(), &client_id).await?))
}

/// Gives a trusted client with a secret a new one, in this answer only;
/// the old one stops working at once.
#[utoipa::path(post, path = "/admin/v1/clients/{client_id}/secret", tag = "clients",
    params(("client_id" = String, Path, description = "the client id, percent-encoded")),
    responses((status = 200, body = RotatedSecret),
        (status = 400, description = "not a trusted client with a secret", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn rotate(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rotated = rotate_secret(state.storage(), &client_id).await?;
    let entry = AuditKind::ClientSecretRotated.entry().subject(&client_id);
    super::audit(&state, &req, entry).await;
    Ok(HttpResponse::Ok().json(rotated))
}

/// Removes a client.
#[utoipa::path(delete, path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "the client id, percent-encoded")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn remove(
    state: web::Data<AuthServer>,
    req: HttpRequest,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove_client(state.storage(), &client_id, state.now()).await?;
    let entry = AuditKind::ClientRemoved.entry().subject(&client_id);
    super::audit(&state, &req, entry).await;
    Ok(HttpResponse::NoContent().finish())
}
