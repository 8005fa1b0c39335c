//! tower / axum glue: a [`Layer`] that verifies every request before it
//! reaches the inner service (rmcp's `StreamableHttpService`, typically) and
//! inserts the caller's [`Claims`] into the request extensions, and an axum
//! [`Router`] serving the RFC 9728 document.
//!
//! ```
//! use mcp_oauth_verifier::Verifier;
//!
//! let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
//!     .authorization_server("http://127.0.0.1:9000")
//!     .required_scopes(["mcp"])
//!     .build()?;
//! // In an application, rmcp's `StreamableHttpService`.
//! let mcp_service = axum::Router::new();
//! let app: axum::Router = axum::Router::new()
//!     .merge(verifier.metadata_router())
//!     .nest_service("/mcp", verifier.layer().layer(mcp_service));
//! # let _ = app;
//! # Ok::<(), mcp_oauth_verifier::BuildError>(())
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::get;
use futures_util::StreamExt;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ORIGIN, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
pub use tower::Layer;
use tower::Service;

use crate::claims::{Claims, Rejection};
use crate::mcp_headers::{MCP_METHOD, MCP_NAME};
use crate::tools_filter::{SseFilter, filter_json, is_tools_list};
use crate::verifier::Verifier;

/// Largest request body inspected for `tools/call` scopes.
const MAX_INSPECTED_BODY: usize = 4 * 1024 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Verifier {
    /// The verifying layer; see the [module documentation](self).
    pub fn layer(&self) -> VerifierLayer {
        VerifierLayer {
            verifier: self.clone(),
            strip_authorization: false,
            filter_tools_list: false,
        }
    }

    /// An axum router serving the RFC 9728 document at the path form of
    /// the resource and at the root well-known path. Merge it at the root
    /// of the app.
    pub fn metadata_router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let doc = Arc::new(serde_json::to_vec(self.metadata()).unwrap_or_default());
        let handler = move || {
            let doc = doc.clone();
            async move {
                Response::builder()
                    .status(StatusCode::OK)
                    .header(CONTENT_TYPE, "application/json")
                    .header(CACHE_CONTROL, "public, max-age=300")
                    .header("access-control-allow-origin", "*")
                    .body(Body::from(doc.as_ref().clone()))
                    .unwrap_or_default()
            }
        };
        let path_form = url::Url::parse(self.resource_metadata_url())
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| "/.well-known/oauth-protected-resource".to_owned());
        let root = "/.well-known/oauth-protected-resource";
        let mut router = Router::new().route(root, get(handler.clone()));
        if path_form != root {
            router = router.route(&path_form, get(handler));
        }
        router
    }
}

/// The response a rejection deserves: status, challenge, JSON error body.
///
/// ```
/// use mcp_oauth_verifier::{Rejection, Verifier, tower};
///
/// let verifier = Verifier::builder("http://127.0.0.1:8000/mcp")
///     .authorization_server("http://127.0.0.1:9000")
///     .build()?;
/// let response = tower::rejection_response(&verifier, &Rejection::ForbiddenOrigin);
/// assert_eq!(response.status(), 403);
/// assert!(!response.headers().contains_key("www-authenticate"));
/// # Ok::<(), mcp_oauth_verifier::BuildError>(())
/// ```
pub fn rejection_response(verifier: &Verifier, rejection: &Rejection) -> Response<Body> {
    let status = StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let challenge = verifier.challenge(rejection);
    let body = rejection.body();
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if rejection.has_challenge() {
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            headers.insert(WWW_AUTHENTICATE, v);
        }
        headers.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
    response
}

/// `response` to a `tools/list`, with only the tools `claims` may call:
/// an SSE stream filtered event by event as it flows, a JSON answer read
/// whole (up to the inspection limit; beyond it, 502).
async fn filtered(
    response: Response<Body>,
    verifier: Verifier,
    claims: Arc<Claims>,
) -> Response<Body> {
    let sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
    if response
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        // What cannot be read cannot be filtered: refused, not passed on.
        let mut r = Response::new(Body::from("tools/list answer encoded: cannot filter it"));
        *r.status_mut() = StatusCode::BAD_GATEWAY;
        return r;
    }
    let (mut parts, body) = response.into_parts();
    // The length changes with the filtering.
    parts.headers.remove(http::header::CONTENT_LENGTH);
    if sse {
        let filter = Arc::new(parking_lot::Mutex::new(SseFilter::new(verifier, claims)));
        let tail = filter.clone();
        let events = body
            .into_data_stream()
            .map(move |chunk| chunk.map(|b| Bytes::from(filter.lock().push(&b))))
            .chain(futures_util::stream::once(async move {
                Ok::<_, axum::Error>(Bytes::from(tail.lock().finish()))
            }));
        return Response::from_parts(parts, Body::from_stream(events));
    }
    match axum::body::to_bytes(body, MAX_INSPECTED_BODY).await {
        Ok(bytes) => {
            let out = filter_json(&verifier, &claims, &bytes);
            Response::from_parts(parts, Body::from(out))
        }
        Err(_) => {
            let mut r = Response::new(Body::from("tools/list answer too large to filter"));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
    }
}

/// The layer returned by [`Verifier::layer`].
#[derive(Clone, Debug)]
pub struct VerifierLayer {
    verifier: Verifier,
    strip_authorization: bool,
    filter_tools_list: bool,
}

impl VerifierLayer {
    /// Wraps `inner` (also available through [`Layer::layer`]; this
    /// inherent method needs no trait import).
    pub fn layer<S>(&self, inner: S) -> VerifierService<S> {
        VerifierService {
            inner,
            verifier: self.verifier.clone(),
            strip_authorization: self.strip_authorization,
            filter_tools_list: self.filter_tools_list,
        }
    }

    /// Remove the `Authorization` header before the inner service sees it
    /// (default off), so the token cannot leak into logs or be passed on.
    pub fn strip_authorization(mut self, on: bool) -> Self {
        self.strip_authorization = on;
        self
    }

    /// Answer `tools/list` with only the tools the caller's token may call
    /// (default off): a tool with scopes of its own
    /// ([`tool_scope`](crate::VerifierBuilder::tool_scope)) the token does
    /// not cover is left out, in JSON answers and SSE streams alike.
    pub fn filter_tools_list(mut self, on: bool) -> Self {
        self.filter_tools_list = on;
        self
    }
}

impl<S> Layer<S> for VerifierLayer {
    type Service = VerifierService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        VerifierLayer::layer(self, inner)
    }
}

/// The service of [`VerifierLayer`].
#[derive(Clone, Debug)]
pub struct VerifierService<S> {
    inner: S,
    verifier: Verifier,
    strip_authorization: bool,
    filter_tools_list: bool,
}

impl<S, B, RB> Service<Request<B>> for VerifierService<S>
where
    S: Service<Request<Body>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    RB: http_body::Body<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The ready inner service goes into the future; a fresh clone stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let strip = self.strip_authorization;
        let filter = self.filter_tools_list;
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let mut origins = parts.headers.get_all(ORIGIN).iter();
            let origin = match (origins.next(), origins.next()) {
                (None, _) => Ok(()),
                (Some(v), None) => match v.to_str() {
                    Ok(v) => verifier.check_origin(Some(v)),
                    Err(_) => Err(Rejection::ForbiddenOrigin),
                },
                (Some(_), Some(_)) => Err(Rejection::ForbiddenOrigin),
            };
            if let Err(r) = origin {
                return Ok(rejection_response(&verifier, &r));
            }
            if parts.headers.get_all(AUTHORIZATION).iter().count() > 1 {
                let r = Rejection::InvalidRequest("more than one Authorization header".into());
                return Ok(rejection_response(&verifier, &r));
            }
            let authorization = parts
                .headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let is_form = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            if authorization.is_none() && is_form {
                let r = Rejection::InvalidRequest(
                    "access tokens are accepted only in the Authorization header".into(),
                );
                return Ok(rejection_response(&verifier, &r));
            }
            let claims: Arc<Claims> = match verifier
                .verify_request_shared(authorization.as_deref(), parts.uri.query())
                .await
            {
                Ok(c) => c,
                Err(r) => return Ok(rejection_response(&verifier, &r)),
            };
            let mut tools_list = false;
            let body = if verifier.has_tool_scopes() && parts.method == Method::POST {
                let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
                let (method, name) = (header(MCP_METHOD), header(MCP_NAME));
                // The headers (MCP 2026-07-28) can refuse before the body
                // is read; the body is checked all the same.
                if let Some(extra) = verifier.header_tool_scopes(method, name)
                    && let Err(r) = verifier.authorize(&claims, Some(&extra))
                {
                    return Ok(rejection_response(&verifier, &r));
                }
                let (method, name) = (method.map(str::to_owned), name.map(str::to_owned));
                let Ok(bytes) = axum::body::to_bytes(Body::new(body), MAX_INSPECTED_BODY).await
                else {
                    let r =
                        Rejection::InvalidRequest("request body unreadable or too large".into());
                    return Ok(rejection_response(&verifier, &r));
                };
                if let Err(r) =
                    verifier.check_mcp_headers(&bytes, method.as_deref(), name.as_deref())
                {
                    return Ok(rejection_response(&verifier, &r));
                }
                if let Some(extra) = verifier.tool_call_scopes(&bytes)
                    && let Err(r) = verifier.authorize(&claims, Some(&extra))
                {
                    return Ok(rejection_response(&verifier, &r));
                }
                tools_list = filter && is_tools_list(&bytes);
                Body::from(bytes)
            } else {
                Body::new(body)
            };
            if strip {
                parts.headers.remove(AUTHORIZATION);
            }
            parts.extensions.insert(claims.clone());
            let response = inner.call(Request::from_parts(parts, body)).await?;
            let response = response.map(Body::new);
            if !tools_list {
                return Ok(response);
            }
            Ok(filtered(response, verifier, claims).await)
        })
    }
}
