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

/// Ends a request that takes longer than `limit` with a 503 in the error shape (ASVS asks
/// for an upper bound; a stuck database or provider must not hold a worker forever). The
/// handler's future is dropped, which rolls back any open transaction.
pub async fn time_limit(
    limit: std::time::Duration,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "request cut at the time limit"
            );
            Err(crate::error::ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "The request took too long. Please try again.",
            )
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::middleware::from_fn;
    use actix_web::{test, web, App, HttpResponse};
    use std::time::Duration;

    #[actix_web::test]
    async fn a_request_past_the_time_limit_gets_a_503_in_the_error_shape() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(|req, next| {
                    time_limit(Duration::from_millis(20), req, next)
                }))
                .route(
                    "/slow",
                    web::get().to(|| async {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        HttpResponse::Ok().finish()
                    }),
                )
                .route("/fast", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/fast").to_request()).await;
        assert_eq!(res.status(), 200);
        // The server turns the middleware's error into the response, as done here.
        let err = test::try_call_service(&app, test::TestRequest::get().uri("/slow").to_request())
            .await
            .err()
            .expect("the slow request is cut");
        let res = err.error_response();
        assert_eq!(res.status(), 503);
        let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "timeout");
    }
}
