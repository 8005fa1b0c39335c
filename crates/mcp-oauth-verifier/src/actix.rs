//! actix-web glue: middleware that verifies every request and inserts the
//! caller's [`Claims`] into the request extensions, and routes serving the
//! RFC 9728 document. Usable with `rmcp-actix-web`, whose `on_request` hook
//! can copy the claims for tools.
//!
//! [`protect`] mounts both at once: the metadata document, and the MCP
//! service at the resource's path behind the verifying middleware. The
//! middleware holds its [`Verifier`], so nothing is looked up in the app's
//! data at run time.
//!
//! ```
//! use actix_web::{App, HttpResponse, test, web};
//! use mcp_oauth_verifier::{Verifier, actix};
//!
//! # actix_web::rt::System::new().block_on(async {
//! let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
//!     .authorization_server("http://127.0.0.1:9000")
//!     .required_scopes(["mcp"])
//!     .build()?;
//! // In an application, `mcp` is rmcp-actix-web's `StreamableHttpService::scope()`.
//! let mcp = web::scope("").route("", web::post().to(HttpResponse::Ok));
//! let app = test::init_service(App::new().configure(actix::protect(&verifier, mcp))).await;
//!
//! // Without a token: 401 with a challenge naming the metadata document.
//! let response = test::call_service(&app, test::TestRequest::post().uri("/mcp").to_request()).await;
//! assert_eq!(response.status(), 401);
//! // The metadata document is public.
//! let request = test::TestRequest::get()
//!     .uri("/.well-known/oauth-protected-resource/mcp")
//!     .to_request();
//! assert_eq!(test::call_service(&app, request).await.status(), 200);
//! # Ok::<(), mcp_oauth_verifier::BuildError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{
    HttpServiceFactory, Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready,
};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{Error, FromRequest, HttpMessage, HttpResponse, web};

use crate::claims::{Claims, Rejection};
use crate::mcp_headers::{MCP_METHOD, MCP_NAME};
use crate::verifier::Verifier;

/// Largest request body inspected for `tools/call` scopes.
const MAX_INSPECTED_BODY: usize = 4 * 1024 * 1024;

/// The response a rejection deserves: status, challenge, JSON error body.
///
/// ```
/// use mcp_oauth_verifier::{Rejection, Verifier, actix};
///
/// let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
///     .authorization_server("http://127.0.0.1:9000")
///     .build()?;
/// let response = actix::rejection_response(&verifier, &Rejection::MissingToken);
/// assert_eq!(response.status(), 401);
/// assert!(response.headers().contains_key("www-authenticate"));
/// # Ok::<(), mcp_oauth_verifier::BuildError>(())
/// ```
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

/// Mounts the RFC 9728 document ([`metadata_routes`]) and `mcp` at the
/// resource's path (`/mcp` for `https://mcp.example.com/mcp`) behind the
/// verifying [`middleware`]. Call it inside `HttpServer::new`'s factory,
/// with `App::configure`; see the [module documentation](self).
pub fn protect<F>(verifier: &Verifier, mcp: F) -> impl FnOnce(&mut web::ServiceConfig) + use<F>
where
    F: HttpServiceFactory + 'static,
{
    protect_with(middleware(verifier), mcp)
}

/// [`protect`] with a middleware configured beforehand, e.g. one that
/// filters `tools/list` ([`VerifierMiddleware::filter_tools_list`]).
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use mcp_oauth_verifier::{Verifier, actix};
///
/// let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
///     .authorization_server("http://127.0.0.1:9000")
///     .tool_scope("delete_file", "files:write")
///     .build()?;
/// let mcp = web::scope("").route("", web::post().to(HttpResponse::Ok));
/// let filtering = actix::middleware(&verifier).filter_tools_list(true);
/// let _app = App::new().configure(actix::protect_with(filtering, mcp));
/// # Ok::<(), mcp_oauth_verifier::BuildError>(())
/// ```
pub fn protect_with<F>(
    middleware: VerifierMiddleware,
    mcp: F,
) -> impl FnOnce(&mut web::ServiceConfig) + use<F>
where
    F: HttpServiceFactory + 'static,
{
    let verifier = middleware.verifier.clone();
    let path = verifier
        .resource()
        .url()
        .path()
        .trim_end_matches('/')
        .to_owned();
    move |cfg: &mut web::ServiceConfig| {
        cfg.configure(metadata_routes(&verifier))
            .service(web::scope(&path).wrap(middleware).service(mcp));
    }
}

/// The verifying middleware, for `wrap` on the scope of the MCP service
/// (what [`protect`] does). Each request is refused with the response its
/// [`Rejection`] deserves, or passed on with its [`Claims`] (as
/// `Arc<Claims>`) in the request extensions.
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use mcp_oauth_verifier::{Verifier, actix};
///
/// let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
///     .authorization_server("http://127.0.0.1:9000")
///     .build()?;
/// let _app = App::new().service(
///     web::scope("/mcp")
///         .wrap(actix::middleware(&verifier))
///         .route("", web::post().to(HttpResponse::Ok)),
/// );
/// # Ok::<(), mcp_oauth_verifier::BuildError>(())
/// ```
pub fn middleware(verifier: &Verifier) -> VerifierMiddleware {
    VerifierMiddleware {
        verifier: verifier.clone(),
        filter_tools_list: false,
    }
}

/// The middleware returned by [`middleware`].
#[derive(Clone, Debug)]
pub struct VerifierMiddleware {
    verifier: Verifier,
    filter_tools_list: bool,
}

impl VerifierMiddleware {
    /// With `true`, a `tools/list` answer leaves out the tools the caller's
    /// token may not call (per-tool scopes; JSON answers and event streams
    /// alike), so a client is offered only what it may use. Off by
    /// default; without per-tool scopes there is nothing to leave out.
    ///
    /// ```
    /// use actix_web::{App, HttpResponse, web};
    /// use mcp_oauth_verifier::{Verifier, actix};
    ///
    /// let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
    ///     .authorization_server("http://127.0.0.1:9000")
    ///     .tool_scope("delete_file", "files:write")
    ///     .build()?;
    /// let _app = App::new().service(
    ///     web::scope("/mcp")
    ///         .wrap(actix::middleware(&verifier).filter_tools_list(true))
    ///         .route("", web::post().to(HttpResponse::Ok)),
    /// );
    /// # Ok::<(), mcp_oauth_verifier::BuildError>(())
    /// ```
    pub fn filter_tools_list(mut self, on: bool) -> Self {
        self.filter_tools_list = on;
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for VerifierMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = VerifierMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(VerifierMiddlewareService {
            service: Rc::new(service),
            verifier: self.verifier.clone(),
            filter_tools_list: self.filter_tools_list,
        }))
    }
}

/// The service of [`VerifierMiddleware`], wrapping the inner one.
#[derive(Debug)]
pub struct VerifierMiddlewareService<S> {
    service: Rc<S>,
    verifier: Verifier,
    filter_tools_list: bool,
}

impl<S, B> Service<ServiceRequest> for VerifierMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let verifier = self.verifier.clone();
        let filter = self.filter_tools_list;
        Box::pin(async move {
            match check(&verifier, req, filter).await {
                Ok((req, None)) => Ok(service.call(req).await?.map_into_boxed_body()),
                Ok((req, Some(claims))) => {
                    let response = service.call(req).await?;
                    Ok(crate::actix_filter::filtered(response, verifier, claims).await)
                }
                Err(refused) => Ok(refused),
            }
        })
    }
}

/// Verifies one request: the request to pass on, with its claims inserted
/// (and, for a `tools/list` to filter, the claims to filter its answer by),
/// or the response refusing it.
async fn check(
    verifier: &Verifier,
    req: ServiceRequest,
    filter: bool,
) -> Result<(ServiceRequest, Option<Arc<Claims>>), ServiceResponse<BoxBody>> {
    let refuse =
        |req: ServiceRequest, r: Rejection| req.into_response(rejection_response(verifier, &r));
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
        return Err(refuse(req, r));
    }
    if req.headers().get_all(header::AUTHORIZATION).count() > 1 {
        let r = Rejection::InvalidRequest("more than one Authorization header".into());
        return Err(refuse(req, r));
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
        return Err(refuse(req, r));
    }
    let query = Some(req.query_string())
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let claims: Arc<Claims> = match verifier
        .verify_request_shared(authorization.as_deref(), query.as_deref())
        .await
    {
        Ok(c) => c,
        Err(r) => return Err(refuse(req, r)),
    };
    let mut tools_list = false;
    let req = if verifier.has_tool_scopes() && req.method() == Method::POST {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (method, name) = (header(MCP_METHOD), header(MCP_NAME));
        // The headers (MCP 2026-07-28) can refuse before the body is read;
        // the body is checked all the same.
        if let Some(extra) = verifier.header_tool_scopes(method.as_deref(), name.as_deref())
            && let Err(r) = verifier.authorize(&claims, Some(&extra))
        {
            return Err(refuse(req, r));
        }
        let (http_req, mut payload) = req.into_parts();
        let bytes = match web::Bytes::from_request(&http_req, &mut payload).await {
            Ok(b) if b.len() <= MAX_INSPECTED_BODY => b,
            _ => {
                let r = Rejection::InvalidRequest("request body unreadable or too large".into());
                return Err(ServiceResponse::new(
                    http_req,
                    rejection_response(verifier, &r),
                ));
            }
        };
        if let Err(r) = verifier.check_mcp_headers(&bytes, method.as_deref(), name.as_deref()) {
            return Err(ServiceResponse::new(
                http_req,
                rejection_response(verifier, &r),
            ));
        }
        if let Some(extra) = verifier.tool_call_scopes(&bytes)
            && let Err(r) = verifier.authorize(&claims, Some(&extra))
        {
            return Err(ServiceResponse::new(
                http_req,
                rejection_response(verifier, &r),
            ));
        }
        tools_list = filter && crate::tools_filter::is_tools_list(&bytes);
        ServiceRequest::from_parts(http_req, Payload::from(bytes))
    } else {
        req
    };
    req.extensions_mut().insert(claims.clone());
    Ok((req, tools_list.then_some(claims)))
}

/// Registers the RFC 9728 document at the resource's path form and at the
/// root well-known path (part of [`protect`]).
///
/// ```
/// use actix_web::App;
/// use mcp_oauth_verifier::{Verifier, actix};
///
/// let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
///     .authorization_server("http://127.0.0.1:9000")
///     .build()?;
/// let _app = App::new().configure(actix::metadata_routes(&verifier));
/// # Ok::<(), mcp_oauth_verifier::BuildError>(())
/// ```
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
