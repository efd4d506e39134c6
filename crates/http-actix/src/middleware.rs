//! Cross-cutting HTTP concerns: security headers and one request span per request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use tracing::Instrument;
use uuid::Uuid;

/// Security headers for every response; a handler that sets one (the privacy page's CSP)
/// keeps its own. HSTS only when the public URL is https.
pub fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cache-Control", "no-store"))
        .add((
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        ));
    if hsts {
        headers.add((
            "Strict-Transport-Security",
            "max-age=63072000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// Opens a span with a fresh request id, the method and the path — never the query string,
/// which may carry one-time tokens — and logs the status and latency once the response is
/// ready. The id is returned in `x-request-id`.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = Uuid::new_v4();
    let span = tracing::info_span!(
        "request",
        %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1_000.0;
    match result {
        Ok(mut res) => {
            tracing::info!(
                status = res.status().as_u16(),
                elapsed_ms,
                "request finished"
            );
            if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
                res.headers_mut()
                    .insert(HeaderName::from_static("x-request-id"), value);
            }
            Ok(res)
        }
        Err(e) => {
            tracing::warn!(elapsed_ms, "request failed before a response was built");
            Err(e)
        }
    }
}
