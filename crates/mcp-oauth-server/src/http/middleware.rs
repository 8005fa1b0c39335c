//! Per-route middleware: request metrics on every route, header and body
//! limits (size, and a deadline for the body), CORS on the routes
//! browser-based MCP clients call (never on login or introspection).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use futures_util::StreamExt;

use crate::app::AuthServer;
use prometheus_client::metrics::counter::Counter;

use crate::metrics::{Metrics, RequestLabels};

/// A route's request counters, by status, looked up once: counting a
/// request costs no label built, hashed or matched.
pub(super) struct Endpoint {
    /// The route's pattern (the `endpoint` label).
    pattern: String,
    counters: parking_lot::Mutex<Vec<(u16, Counter)>>,
}

impl Endpoint {
    /// The counters of the route `pattern`.
    pub(super) fn new(pattern: &str) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            pattern: pattern.to_owned(),
            counters: parking_lot::Mutex::new(Vec::new()),
        })
    }

    /// Counts one request answered with `status`.
    fn count(&self, metrics: &Metrics, status: u16) {
        let mut counters = self.counters.lock();
        if let Some((_, counter)) = counters.iter().find(|(s, _)| *s == status) {
            counter.inc();
            return;
        }
        let counter = metrics
            .requests
            .get_or_create(&RequestLabels {
                endpoint: self.pattern.clone(),
                status,
            })
            .clone();
        counter.inc();
        counters.push((status, counter));
    }
}

/// Counts the request by the pattern it matched and its status, for a
/// scope of several routes (the admin API).
pub(super) async fn observe_matched(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let pattern = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    observe(Endpoint::new(&pattern), req, next).await
}

/// Counts the request to `endpoint` by status.
pub(super) async fn observe(
    endpoint: std::sync::Arc<Endpoint>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AuthServer>>().cloned();
    let mut res = next.call(req).await?;
    if let Some(state) = state {
        endpoint.count(&state.metrics, res.status().as_u16());
        // An https issuer: browsers are told to come back over https only
        // (a year; not the operator's other subdomains).
        if state.config.issuer.is_https() {
            res.headers_mut().insert(
                header::STRICT_TRANSPORT_SECURITY,
                header::HeaderValue::from_static("max-age=31536000"),
            );
        }
    }
    Ok(res)
}

/// Total size of request headers (names and values) accepted, in bytes.
/// Browsers stay far below it; actix itself closes connections whose head
/// passes 128 KiB.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses requests whose headers add up to more than
/// [`MAX_HEADER_BYTES`] with 431 and the OAuth JSON error form.
pub(super) async fn header_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let size: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        let res = HttpResponse::build(actix_web::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({
                "error": "invalid_request",
                "error_description": "request headers too large",
            }));
        return Ok(req.into_response(res).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Largest request body read, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

fn refused(status: actix_web::http::StatusCode, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONNECTION, "close"))
        .json(serde_json::json!({
            "error": "invalid_request",
            "error_description": description,
        }))
}

/// Reads the whole body under a deadline (the server's
/// [`crate::ConnectionLimits::body_timeout`]) and a size cap before the
/// handler runs: a client dripping its body is answered 408 and cut off,
/// instead of holding a connection (and a file descriptor) for as long as
/// it likes.
pub(super) async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    use actix_web::http::StatusCode;
    let deadline = req
        .app_data::<web::Data<AuthServer>>()
        .map_or(std::time::Duration::from_secs(10), |s| {
            s.config.limits.body_timeout
        });
    let mut payload = req.take_payload();
    let read = async {
        // A body that arrives in one chunk (most do) is kept as it is.
        let mut first: Option<web::Bytes> = None;
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
            let had = first.as_ref().map_or(0, web::Bytes::len) + body.len();
            if had + chunk.len() > MAX_BODY_BYTES {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            match first.take() {
                None if body.is_empty() => first = Some(chunk),
                earlier => {
                    if let Some(earlier) = earlier {
                        body.extend_from_slice(&earlier);
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
        Ok(first.unwrap_or_else(|| body.freeze()))
    };
    // A body already read (the usual case) needs no timer.
    let mut read = std::pin::pin!(read);
    let read = match futures_util::poll!(read.as_mut()) {
        std::task::Poll::Ready(done) => Ok(done),
        std::task::Poll::Pending => tokio::time::timeout(deadline, read).await,
    };
    let refusal = match read {
        Ok(Ok(body)) => {
            req.set_payload(actix_web::dev::Payload::from(body));
            return Ok(next.call(req).await?.map_into_left_body());
        }
        Err(_) => refused(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        ),
        Ok(Err(StatusCode::PAYLOAD_TOO_LARGE)) => {
            refused(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
        }
        Ok(Err(_)) => refused(StatusCode::BAD_REQUEST, "the request body is malformed"),
    };
    Ok(req.into_response(refusal).map_into_right_body())
}

/// Adds `Access-Control-Allow-Origin` for allowed origins.
pub(super) async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = match (&origin, req.app_data::<web::Data<AuthServer>>()) {
        (Some(o), Some(state)) => match &state.config.cors_origins {
            None => Some(HeaderValue::from_static("*")),
            Some(list) => o
                .to_str()
                .ok()
                .filter(|o| list.iter().any(|a| a == o))
                .map(|_| o.clone()),
        },
        _ => None,
    };
    let mut res = next.call(req).await?;
    if let Some(value) = allowed {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(res)
}

/// Answers a CORS preflight.
pub(super) async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type, MCP-Protocol-Version",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}

/// Turns actix's plain 413 (a body over the configured limit) into the
/// OAuth JSON error form.
pub(super) fn payload_too_large<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    let (req, res) = res.into_parts();
    let mut res = res.set_body(
        serde_json::json!({
            "error": "invalid_request",
            "error_description": "request body too large",
        })
        .to_string(),
    );
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(actix_web::middleware::ErrorHandlerResponse::Response(
        ServiceResponse::new(req, res)
            .map_into_boxed_body()
            .map_into_right_body(),
    ))
}
