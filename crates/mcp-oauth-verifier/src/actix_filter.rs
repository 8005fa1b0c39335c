//! `tools/list` answers filtered to what the token may call, for the actix
//! glue (the tower layer's counterpart): a JSON answer is rewritten whole,
//! an event stream event by event as each completes.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody, to_bytes_limited};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::Bytes;

use crate::claims::Claims;
use crate::tools_filter::{SseFilter, filter_json};
use crate::verifier::Verifier;

/// Largest JSON `tools/list` answer rewritten.
const MAX_FILTERED_BODY: usize = 4 * 1024 * 1024;

/// An event stream with each completed event filtered.
struct FilteredEvents<B> {
    inner: Pin<Box<B>>,
    filter: SseFilter,
    done: bool,
}

impl<B: MessageBody> MessageBody for FilteredEvents<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let out = this.filter.push(&chunk);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    this.done = true;
                    let rest = this.filter.finish();
                    if !rest.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(rest))));
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The inner service's answer to a `tools/list`, without the tools the
/// caller's token may not call.
pub(crate) async fn filtered<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
    verifier: Verifier,
    claims: Arc<Claims>,
) -> ServiceResponse<BoxBody> {
    let sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
    let encoded = response
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity");
    let (request, mut response) = response.into_parts();
    if encoded {
        // What cannot be read cannot be filtered: refused, not passed on.
        let r = actix_web::HttpResponse::build(StatusCode::BAD_GATEWAY)
            .body("tools/list answer encoded: cannot filter it");
        return ServiceResponse::new(request, r);
    }
    // The length changes with the filtering.
    response.headers_mut().remove(CONTENT_LENGTH);
    let (head, body) = response.into_parts();
    if sse {
        let events = FilteredEvents {
            inner: Box::pin(body),
            filter: SseFilter::new(verifier, claims),
            done: false,
        };
        return ServiceResponse::new(request, head.set_body(events).map_into_boxed_body());
    }
    match to_bytes_limited(body, MAX_FILTERED_BODY).await {
        Ok(Ok(bytes)) => {
            let out = filter_json(&verifier, &claims, &bytes);
            ServiceResponse::new(request, head.set_body(BoxBody::new(out)))
        }
        _ => {
            let r = actix_web::HttpResponse::build(StatusCode::BAD_GATEWAY)
                .body("tools/list answer unreadable or too large to filter");
            ServiceResponse::new(request, r)
        }
    }
}
