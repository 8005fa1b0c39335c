//! actix-web glue: middleware that verifies every request and inserts the
//! caller's [`Claims`] into the request extensions, and routes serving the
//! RFC 9728 document. Usable with `rmcp-actix-web`, whose `on_request` hook
//! can copy the claims for tools.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, middleware::from_fn, web};
//! use mcp_oauth_verifier::{Verifier, actix};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
//!     .authorization_server("http://127.0.0.1:9000")
//!     .required_scopes(["mcp"])
//!     .build()?;
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(web::Data::new(verifier.clone()))
//!         .configure(actix::metadata_routes(&verifier))
//!         .service(web::scope("/mcp").wrap(from_fn(actix::verify)) /* .service(your MCP service) */)
//! })
//! .bind(("127.0.0.1", 8000))?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpResponse, web};

use crate::claims::{Claims, Rejection};
use crate::verifier::Verifier;

/// Largest request body inspected for `tools/call` scopes.
const MAX_INSPECTED_BODY: usize = 4 * 1024 * 1024;

/// The response a rejection deserves.
pub fn rejection_response(verifier: &Verifier, rejection: &Rejection) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(rejection.status())
        .unwrap_or(actix_web::http::StatusCode::UNAUTHORIZED);
    let body = rejection.body();
    let mut r = HttpResponse::build(status);
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    if rejection.has_challenge() {
        r.insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate"));
        if let Ok(v) = HeaderValue::from_str(&verifier.challenge(rejection)) {
            r.insert_header((header::WWW_AUTHENTICATE, v));
        }
    }
    r.json(body)
}

/// The middleware function: wrap a scope with
/// `actix_web::middleware::from_fn(verify)` and put the [`Verifier`] in
/// `app_data` as `web::Data<Verifier>`.
pub async fn verify(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(verifier) = req
        .app_data::<web::Data<Verifier>>()
        .map(|v| v.get_ref().clone())
    else {
        tracing::error!("mcp_oauth_verifier::actix::verify needs web::Data<Verifier> in app_data");
        return Ok(req.into_response(HttpResponse::InternalServerError().finish()));
    };
    let mut origins = req.headers().get_all(header::ORIGIN);
    let origin = match (origins.next(), origins.next()) {
        (None, _) => Ok(()),
        (Some(v), None) => match v.to_str() {
            Ok(v) => verifier.check_origin(Some(v)),
            Err(_) => Err(Rejection::ForbiddenOrigin),
        },
        (Some(_), Some(_)) => Err(Rejection::ForbiddenOrigin),
    };
    if let Err(r) = origin {
        return Ok(req.into_response(rejection_response(&verifier, &r)));
    }
    if req.headers().get_all(header::AUTHORIZATION).count() > 1 {
        let r = Rejection::InvalidRequest("more than one Authorization header".into());
        return Ok(req.into_response(rejection_response(&verifier, &r)));
    }
    let header_value = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header_value(header::AUTHORIZATION);
    let is_form = header_value(header::CONTENT_TYPE)
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if authorization.is_none() && is_form {
        let r = Rejection::InvalidRequest(
            "access tokens are accepted only in the Authorization header".into(),
        );
        return Ok(req.into_response(rejection_response(&verifier, &r)));
    }
    let query = Some(req.query_string())
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let claims: std::sync::Arc<Claims> = match verifier
        .verify_request_shared(authorization.as_deref(), query.as_deref())
        .await
    {
        Ok(c) => c,
        Err(r) => return Ok(req.into_response(rejection_response(&verifier, &r))),
    };
    let req = if verifier.has_tool_scopes() && req.method() == Method::POST {
        let (http_req, mut payload) = req.into_parts();
        let bytes = match web::Bytes::from_request(&http_req, &mut payload).await {
            Ok(b) if b.len() <= MAX_INSPECTED_BODY => b,
            _ => {
                let r = Rejection::InvalidRequest("request body unreadable or too large".into());
                return Ok(ServiceResponse::new(
                    http_req,
                    rejection_response(&verifier, &r),
                ));
            }
        };
        if let Some(extra) = verifier.tool_call_scopes(&bytes)
            && let Err(r) = verifier.authorize(&claims, Some(&extra))
        {
            return Ok(ServiceResponse::new(
                http_req,
                rejection_response(&verifier, &r),
            ));
        }
        ServiceRequest::from_parts(http_req, Payload::from(bytes))
    } else {
        req
    };
    req.extensions_mut().insert(claims);
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Registers the RFC 9728 document at the resource's path form and at the
/// root well-known path.
pub fn metadata_routes(verifier: &Verifier) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let doc = serde_json::to_vec(verifier.metadata()).unwrap_or_default();
    let path_form = url::Url::parse(verifier.resource_metadata_url())
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/.well-known/oauth-protected-resource".to_owned());
    move |cfg: &mut web::ServiceConfig| {
        let root = "/.well-known/oauth-protected-resource";
        let mut paths = vec![root.to_owned()];
        if path_form != root {
            paths.push(path_form);
        }
        for p in paths {
            let doc = doc.clone();
            cfg.route(
                &p,
                web::get().to(move || {
                    let doc = doc.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
                            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
                            .body(doc)
                    }
                }),
            );
        }
    }
}
