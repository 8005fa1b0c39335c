//! The admin HTTP API, `/admin/v1/…`: one file per concern (users,
//! clients, keys, grants with sessions and the audit trail, the OpenAPI
//! document, errors). Served only when the
//! operator turned it on ([`crate::AdminApi`]); every call passes
//! [`gate`], which authenticates the caller, records the call and marks
//! the answer `Cache-Control: no-store`.

mod accounts;
mod clients;
mod error;
mod keys;
mod openapi;
mod users;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlers, Next, from_fn};
use actix_web::{Error, HttpMessage, ResponseError, web};

use crate::admin_api::{record_admin_call, record_admin_refusal};
use crate::app::AuthServer;
use crate::oauth::audit::{Actor, AuditEntry};
use error::ApiError;

/// Registers the admin routes under `{issuer_path}/admin/v1`.
pub(super) fn routes(cfg: &mut web::ServiceConfig, issuer_path: &str) {
    let scope = web::scope(&format!("{issuer_path}{}", crate::config::AdminApi::PATH))
        .wrap(from_fn(gate))
        .wrap(ErrorHandlers::new().handler(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            super::middleware::payload_too_large,
        ))
        .wrap(from_fn(super::middleware::body_deadline))
        .wrap(from_fn(super::middleware::observe_matched))
        .wrap(from_fn(super::middleware::header_limit))
        .route("/openapi.json", web::get().to(openapi::document))
        .route("/users", web::get().to(users::list))
        .route("/users", web::post().to(users::add))
        .route("/users/{username}", web::delete().to(users::remove))
        .route("/users/{username}/password", web::put().to(users::set))
        .route("/clients", web::get().to(clients::list))
        .route("/clients", web::post().to(clients::create))
        .route("/clients/{client_id}", web::get().to(clients::show))
        .route("/clients/{client_id}", web::delete().to(clients::remove))
        .route(
            "/clients/{client_id}/secret",
            web::post().to(clients::rotate),
        )
        .route(
            "/users/{username}/sessions",
            web::get().to(accounts::list_sessions),
        )
        .route(
            "/users/{username}/sessions",
            web::delete().to(accounts::revoke_sessions),
        )
        .route("/grants", web::get().to(accounts::list_grants))
        .route("/grants", web::delete().to(accounts::revoke_grants))
        .route("/audit", web::get().to(accounts::audit))
        .route("/keys", web::get().to(keys::list))
        .route("/keys/rotate", web::post().to(keys::rotate))
        .route("/keys/{kid}/retire", web::post().to(keys::retire))
        .default_service(web::to(not_found));
    cfg.service(scope);
}

async fn not_found() -> actix_web::HttpResponse {
    ApiError::not_found("no such admin route").error_response()
}

/// The authenticated caller of this request, as the audit trail names it
/// (set by [`gate`]).
#[derive(Clone)]
struct Caller(Actor);

/// The caller [`gate`] let in.
fn actor(req: &actix_web::HttpRequest) -> Actor {
    req.extensions()
        .get::<Caller>()
        .map(|c| c.0.clone())
        .unwrap_or(Actor::Admin {
            client_id: None,
            address: String::new(),
        })
}

/// Records the change `entry` describes, made by this request's caller.
async fn audit(state: &AuthServer, req: &actix_web::HttpRequest, entry: AuditEntry) {
    state.audit().record(entry.by(&actor(req))).await;
}

/// The bearer token of `Authorization: Bearer …`, if any.
fn bearer(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Authenticates the caller (refusing with a JSON error and a bearer
/// challenge), runs the route, marks the answer `no-store` and records the
/// call with its status.
async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AuthServer>>().cloned() else {
        return Ok(req
            .into_response(ApiError::not_found("not found").error_response())
            .map_into_right_body());
    };
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let address = super::client_address::of(&state, req.request());
    let caller = match state.authenticate_admin(bearer(&req).as_deref()).await {
        Ok(caller) => {
            // The handlers name the caller in the audit events they write.
            req.extensions_mut().insert(Caller(caller.actor(&address)));
            caller
        }
        Err(e) => {
            let refusal = ApiError::from(&e).error_response();
            record_admin_refusal(&state, &method, &path, refusal.status().as_u16());
            return Ok(req.into_response(refusal).map_into_right_body());
        }
    };
    match next.call(req).await {
        Ok(mut res) => {
            let headers = res.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            record_admin_call(
                &state,
                &caller,
                &address,
                &method,
                &path,
                res.status().as_u16(),
            )
            .await;
            Ok(res.map_into_left_body())
        }
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            record_admin_call(&state, &caller, &address, &method, &path, status).await;
            Err(e)
        }
    }
}
