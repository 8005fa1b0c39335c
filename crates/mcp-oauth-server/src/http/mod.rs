//! The HTTP endpoints, one file each, and the client authentication they
//! share.

mod account;
mod account_pages;
mod admin;
mod authorize;
mod client_address;
mod consent;
mod cookies;
mod device;
mod device_pages;
mod error;
mod federate;
mod form;
mod introspect;
mod login;
mod metadata;
mod middleware;
mod pages;
mod redirect;
mod register;
mod revoke;
mod server;
mod session;
mod token;
mod userinfo;

pub use server::{configure, serve, serve_tls};

pub(crate) use form::decode_form;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use actix_web::web;
use base64ct::{Base64, Encoding};
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::token::ClientAuthParams;

use crate::app::AuthServer;
use crate::oauth::clients::authenticate::Credentials;
use crate::oauth::error::OAuthResult;
use crate::storage::ClientRecord;

/// Registers every route under the issuer's path.
pub(crate) fn routes(
    cfg: &mut web::ServiceConfig,
    issuer_path: &str,
    device_flow: bool,
    admin_api: bool,
    oidc: bool,
) {
    use actix_web::middleware::{ErrorHandlers, from_fn};
    let too_large = || {
        ErrorHandlers::new().handler(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            middleware::payload_too_large,
        )
    };
    let p = |s: &str| format!("{issuer_path}{s}");
    // Browser-callable routes: CORS (with preflight) and metrics.
    let cors_route = |path: String, method: actix_web::Route| {
        let endpoint = middleware::Endpoint::new(&path);
        web::resource(path)
            .wrap(too_large())
            .wrap(from_fn(middleware::body_deadline))
            .wrap(from_fn(middleware::cors))
            .wrap(from_fn(move |req, next| {
                middleware::observe(endpoint.clone(), req, next)
            }))
            .wrap(from_fn(middleware::header_limit))
            .route(method)
            .route(web::method(actix_web::http::Method::OPTIONS).to(middleware::preflight))
    };
    // Routes for browsers navigating (login) or servers (introspection): no CORS.
    let plain_route = |path: String, method: actix_web::Route| {
        let endpoint = middleware::Endpoint::new(&path);
        web::resource(path)
            .wrap(too_large())
            .wrap(from_fn(middleware::body_deadline))
            .wrap(from_fn(move |req, next| {
                middleware::observe(endpoint.clone(), req, next)
            }))
            .wrap(from_fn(middleware::header_limit))
            .route(method)
    };
    // Actix tries resources in the order they are registered: the calls
    // resource servers and agents make most (introspection, tokens) come
    // first, and routes with a path parameter (each tried by a regular
    // expression) last.
    cfg.service(plain_route(
        p("/introspect"),
        web::post().to(introspect::introspect),
    ))
    .service(cors_route(p("/token"), web::post().to(token::token)));
    for well_known in metadata::well_known_paths(issuer_path) {
        cfg.service(cors_route(well_known, web::get().to(metadata::metadata)));
    }
    cfg.service(cors_route(p("/jwks"), web::get().to(metadata::jwks)))
        .service(cors_route(
            p("/register"),
            web::post().to(register::register),
        ))
        .service(cors_route(p("/revoke"), web::post().to(revoke::revoke)))
        .service(
            plain_route(p("/authorize"), web::get().to(authorize::authorize))
                .route(web::post().to(authorize::authorize_post)),
        )
        .service(plain_route(p("/login"), web::post().to(login::login)))
        .service(plain_route(p("/consent"), web::post().to(consent::consent)))
        .service(
            plain_route(p("/account"), web::get().to(account::page))
                .route(web::post().to(account::submit)),
        )
        .service(plain_route(p("/logout"), web::post().to(account::logout)))
        .service(plain_route(p("/healthz"), web::get().to(metadata::healthz)))
        .service(plain_route(p("/metrics"), web::get().to(metadata::metrics)));
    if device_flow {
        cfg.service(cors_route(
            p("/device_authorization"),
            web::post().to(device::authorization),
        ))
        .service(
            plain_route(p("/device"), web::get().to(device::page))
                .route(web::post().to(device::submit)),
        );
    }
    if oidc {
        cfg.service(
            cors_route(p("/userinfo"), web::get().to(userinfo::userinfo))
                .route(web::post().to(userinfo::userinfo)),
        );
    }
    cfg.service(
        cors_route(p("/register/{client_id}"), web::get().to(register::read))
            .route(web::put().to(register::update))
            .route(web::delete().to(register::delete)),
    )
    .service(plain_route(
        p("/federate/{id}"),
        web::post().to(federate::start),
    ))
    .service(plain_route(
        p("/callback/{id}"),
        web::get().to(federate::callback),
    ));
    if admin_api {
        admin::routes(cfg, issuer_path);
    }
}

/// Authenticates the client of a token, introspection or revocation
/// request ([`crate::oauth::clients::authenticate`]).
pub(crate) async fn authenticate_client(
    state: &AuthServer,
    req: &HttpRequest,
    body: &ClientAuthParams,
) -> OAuthResult<ClientRecord> {
    let credentials = Credentials::from_request(basic_credentials(req)?, body)?;
    let address = client_address::of(state, req);
    state.clients().authenticate(&address, credentials).await
}

/// Reads `Authorization: Basic` (RFC 6749 §2.3.1: both parts are
/// form-urlencoded before base64).
pub(super) fn basic_credentials(req: &HttpRequest) -> OAuthResult<Option<(String, String)>> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || ErrorResponse::invalid_client("malformed Basic credentials").into();
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = Base64::decode_vec(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let decode = |s: &str| {
        if memchr::memchr2(b'+', b'%', s.as_bytes()).is_none() {
            return s.to_owned();
        }
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    Ok(Some((decode(id), decode(secret))))
}
