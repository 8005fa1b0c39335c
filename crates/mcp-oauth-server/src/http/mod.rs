//! The HTTP endpoints, one file each, and the client authentication they
//! share.

mod authorize;
mod client_address;
mod consent;
mod cookies;
mod error;
mod federate;
mod introspect;
mod login;
mod metadata;
mod middleware;

pub(crate) use middleware::MAX_BODY_BYTES;
mod pages;
mod register;
mod revoke;
mod session;
mod token;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use actix_web::web;
use base64ct::{Base64, Encoding};
use mcp_oauth_core::error::ErrorResponse;
use mcp_oauth_core::registration::ClientAuthMethod;
use mcp_oauth_core::secret::{constant_time_eq, token_hash};
use mcp_oauth_core::token::{ClientAuthParams, JWT_BEARER_ASSERTION_TYPE};

use crate::app::AppState;
use crate::oauth::error::OAuthResult;
use crate::storage::ClientRecord;

/// Registers every route under the issuer's path.
pub(crate) fn routes(cfg: &mut web::ServiceConfig, issuer_path: &str) {
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
        web::resource(path)
            .wrap(too_large())
            .wrap(from_fn(middleware::body_deadline))
            .wrap(from_fn(middleware::cors))
            .wrap(from_fn(middleware::observe))
            .wrap(from_fn(middleware::header_limit))
            .route(method)
            .route(web::method(actix_web::http::Method::OPTIONS).to(middleware::preflight))
    };
    // Routes for browsers navigating (login) or servers (introspection): no CORS.
    let plain_route = |path: String, method: actix_web::Route| {
        web::resource(path)
            .wrap(too_large())
            .wrap(from_fn(middleware::body_deadline))
            .wrap(from_fn(middleware::observe))
            .wrap(from_fn(middleware::header_limit))
            .route(method)
    };
    for well_known in metadata::well_known_paths(issuer_path) {
        cfg.service(cors_route(well_known, web::get().to(metadata::metadata)));
    }
    cfg.service(cors_route(p("/jwks"), web::get().to(metadata::jwks)))
        .service(cors_route(
            p("/register"),
            web::post().to(register::register),
        ))
        .service(cors_route(p("/token"), web::post().to(token::token)))
        .service(cors_route(p("/revoke"), web::post().to(revoke::revoke)))
        .service(plain_route(
            p("/authorize"),
            web::get().to(authorize::authorize),
        ))
        .service(plain_route(p("/login"), web::post().to(login::login)))
        .service(plain_route(p("/consent"), web::post().to(consent::consent)))
        .service(plain_route(
            p("/federate/{id}"),
            web::post().to(federate::start),
        ))
        .service(plain_route(
            p("/callback/{id}"),
            web::get().to(federate::callback),
        ))
        .service(plain_route(
            p("/introspect"),
            web::post().to(introspect::introspect),
        ))
        .service(plain_route(p("/healthz"), web::get().to(metadata::healthz)))
        .service(plain_route(p("/metrics"), web::get().to(metadata::metrics)));
}

/// Decodes a form body, or answers `invalid_request` naming what was being
/// decoded (duplicate or malformed parameters land here).
pub(crate) fn decode_form<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> OAuthResult<T> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        ErrorResponse::invalid_request(format!("malformed {what} request: {e}")).into()
    })
}

/// How the caller presented its client credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Basic,
    Post,
    NoSecret,
}

/// Authenticates the client of a token, introspection or revocation
/// request (RFC 6749 §2.3): HTTP Basic, `client_secret_post`, or a bare
/// `client_id` for public clients. The method must be the one the client
/// registered. Every failure is `invalid_client`.
pub(crate) async fn authenticate_client(
    state: &AppState,
    req: &HttpRequest,
    body: &ClientAuthParams,
) -> OAuthResult<ClientRecord> {
    let bad = |msg: &str| ErrorResponse::invalid_client(msg).into();
    let basic = basic_credentials(req)?;
    if basic.is_some() && body.client_secret.is_some() {
        return Err(ErrorResponse::invalid_request(
            "use one client authentication method, not several",
        )
        .into());
    }
    let address = client_address::of(state, req);
    if body.client_assertion.is_some() || body.client_assertion_type.is_some() {
        if basic.is_some() || body.client_secret.is_some() {
            return Err(ErrorResponse::invalid_request(
                "use one client authentication method, not several",
            )
            .into());
        }
        return match (
            body.client_assertion_type.as_deref(),
            &body.client_assertion,
        ) {
            (Some(JWT_BEARER_ASSERTION_TYPE), Some(assertion)) => {
                crate::client_assertion::authenticate(
                    state,
                    &address,
                    assertion.secret(),
                    body.client_id.as_deref(),
                )
                .await
            }
            _ => Err(bad("unsupported client assertion")),
        };
    }
    let (client_id, secret, presented) = match (&basic, &body.client_id, &body.client_secret) {
        (Some((id, secret)), body_id, _) => {
            if body_id.as_ref().is_some_and(|b| b != id) {
                return Err(
                    ErrorResponse::invalid_request("client_id in body and header differ").into(),
                );
            }
            (id.clone(), Some(secret.clone()), Presented::Basic)
        }
        (None, Some(id), Some(secret)) => (
            id.clone(),
            Some(secret.secret().to_owned()),
            Presented::Post,
        ),
        (None, Some(id), None) => (id.clone(), None, Presented::NoSecret),
        (None, None, _) => return Err(bad("client authentication is required")),
    };
    let Some(client) = state.client_for(&address, &client_id).await? else {
        return Err(bad("unknown client"));
    };
    let method = client.metadata.effective_auth_method();
    let method_ok = matches!(
        (&method, presented),
        (ClientAuthMethod::None, Presented::NoSecret)
            | (ClientAuthMethod::ClientSecretBasic, Presented::Basic)
            | (ClientAuthMethod::ClientSecretPost, Presented::Post)
    );
    if !method_ok {
        return Err(bad(&format!("this client must authenticate with {method}")));
    }
    if let (Some(secret), Some(stored)) = (secret, &client.secret_hash)
        && !constant_time_eq(token_hash(&secret).as_bytes(), stored.as_bytes())
    {
        return Err(bad("client authentication failed"));
    }
    Ok(client)
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
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    Ok(Some((decode(id), decode(secret))))
}
