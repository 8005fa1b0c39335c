//! The OpenAPI 3.1 document of the admin API, generated from the handlers
//! and types, served at `GET /admin/v1/openapi.json` (to admin callers,
//! like every admin route).

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::{accounts, clients, keys, users};
use crate::admin::clients::{ClientView, CreatedClient, NewClient, RotatedSecret};
use crate::admin::keys::KeyView;
use crate::app::AuthServer;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mcp-oauth-server admin API",
        version = "1",
        description = "Operator API of the authorization server: users, trusted clients, \
                       signing keys, grants, sessions, the audit trail. Bearer authentication: the static admin token, or an \
                       access token of a trusted client from client_credentials with scope \
                       `admin` and resource `{issuer}/admin/v1`."
    ),
    paths(
        document,
        users::list, users::add, users::set, users::remove,
        clients::list, clients::create, clients::show, clients::rotate, clients::remove,
        keys::list, keys::rotate, keys::retire,
        accounts::list_grants, accounts::revoke_grants,
        accounts::list_sessions, accounts::revoke_sessions, accounts::audit,
    ),
    components(schemas(ErrorBody, NewClient, CreatedClient, RotatedSecret, ClientView, KeyView)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "users", description = "Local users who sign in with a password"),
        (name = "clients", description = "Clients; those created here are trusted"),
        (name = "keys", description = "Token signing keys"),
        (name = "grants", description = "What people allowed clients to do"),
        (name = "sessions", description = "People's browser sessions"),
        (name = "audit", description = "The audit trail"),
        (name = "meta", description = "This document"),
    )
)]
struct AdminDoc;

/// Declares the bearer scheme every route asks for.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

/// The OpenAPI document, with this server's issuer as its server URL.
pub(super) fn build(issuer: &str) -> utoipa::openapi::OpenApi {
    let mut doc = AdminDoc::openapi();
    // The paths start with `/admin/v1`; the server is the issuer's origin
    // and path.
    doc.servers = Some(vec![Server::new(issuer.trim_end_matches('/'))]);
    doc
}

/// This document (OpenAPI 3.1, JSON).
#[utoipa::path(get, path = "/admin/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json")))]
pub(super) async fn document(state: web::Data<AuthServer>) -> HttpResponse {
    HttpResponse::Ok().json(build(state.config().issuer.as_str()))
}
