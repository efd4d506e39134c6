//! Cross-cutting HTTP concerns: security headers and one request span per request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use tracing::Instrument;
use uuid::Uuid;

/// The headers every response carries (HSTS only when the public URL is https).
fn security_header_list(hsts: bool) -> Vec<(&'static str, &'static str)> {
    let mut headers = vec![
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ];
    if hsts {
        headers.push((
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ));
    }
    headers
}

/// Security headers for every response; a handler that sets one (a page's CSP) keeps its own.
pub fn security_headers(hsts: bool) -> DefaultHeaders {
    security_header_list(hsts)
        .into_iter()
        .fold(DefaultHeaders::new(), |headers, pair| headers.add(pair))
}

/// Adds the security headers `response` lacks, for a response built outside the middleware
/// chain (the time limit's 503 becomes a response only in the server itself).
fn with_security_headers(mut response: HttpResponse, hsts: bool) -> HttpResponse {
    for (name, value) in security_header_list(hsts) {
        let name = HeaderName::from_static(name);
        if !response.headers().contains_key(&name) {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// The request id a caller sent in `x-request-id`, if it is one a log line can carry as it is:
/// 1 to 64 characters of letters, digits and `-_.:` (a UUID, a ULID, a proxy's trace id).
fn caller_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| value.to_owned())
}

/// The request id header, taken from the caller when well-formed and sent back.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Opens a span with the request id (the caller's `x-request-id` when well-formed, else a fresh
/// one), the method and the path — never the query string, which may carry one-time tokens —
/// and logs the status and latency once the response is ready. Every log line of the request
/// carries the id, and every response, refusals included, returns it in `x-request-id`.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = caller_request_id(&req).unwrap_or_else(|| {
        #[allow(
            clippy::disallowed_methods,
            reason = "a request id only correlates log lines; no business rule reads it"
        )]
        Uuid::new_v4().to_string()
    });
    let span = tracing::info_span!(
        "request",
        %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    // For the answers the middleware inside makes itself (the time limit's).
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // The route's template, never the path itself: made-up paths cannot grow the series.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let metrics = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|state| state.metrics.clone());
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed = started.elapsed().as_secs_f64();
    let elapsed_ms = elapsed * 1_000.0;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(res) => res.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        metrics.request(&route, method.as_str(), status.as_u16(), elapsed);
    }
    match result {
        Ok(mut res) => {
            tracing::info!(
                status = res.status().as_u16(),
                elapsed_ms,
                "request finished"
            );
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                res.headers_mut().insert(REQUEST_ID, value);
            }
            Ok(res)
        }
        Err(e) => {
            tracing::info!(
                status = e.as_response_error().status_code().as_u16(),
                elapsed_ms,
                "request finished with an error"
            );
            Err(e)
        }
    }
}

/// The request's id, for middleware that answers by itself.
#[derive(Clone)]
struct RequestId(String);

/// What a caller cut at the time limit is told.
pub const TIMEOUT_MESSAGE: &str = "The request took too long. Please try again.";

/// The same for a provider action, which may have reached the provider before it was cut.
pub const ACTION_TIMEOUT_MESSAGE: &str = "The action took too long and was stopped. If it sends or changes something, it may have been done all the same: check at the provider before trying again.";

/// Ends a request that takes longer than `limit` with a 503 in the error shape (ASVS asks
/// for an upper bound; a stuck database or provider must not hold a worker forever). The
/// handler's future is dropped, which rolls back any open transaction. The request itself went
/// down with it, so the 503 travels as an error carrying its finished response, security
/// headers included. `message` is what the caller is told (an action's says it may have been
/// done all the same).
pub async fn time_limit(
    limit: std::time::Duration,
    message: &'static str,
    hsts: bool,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req.extensions().get::<RequestId>().cloned();
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "request cut at the time limit"
            );
            let error = crate::error::ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                message,
            );
            let mut response = with_security_headers(error.error_response(), hsts);
            if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id.0).ok()) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            Err(InternalError::from_response("request time limit", response).into())
        }
    }
}

/// The pages a person reaches from a link or a redirect, limited per client address
/// (`RATE_LIMIT_ADDRESS_*`): the connect confirmation and the provider's return, the
/// integrations page and its forms, the OAuth authorization pages, the console's sign-in. By
/// the decoded path (a made-up path under these prefixes is a 404 that spends a token too).
fn limited_per_address(route: &str) -> bool {
    route == "/admin/login"
        || route == "/auth/start"
        || route.starts_with("/auth/callback/")
        || route.starts_with("/integrations")
        || route.starts_with("/oauth/authorize")
}

/// Spends a token of the client address's bucket for the pages of [`limited_per_address`]; past
/// the limit, a 429 page with `Retry-After` (the store failing: a 503 page).
pub async fn page_address_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    use actix_web::http::StatusCode;
    use gptgate_ports::services::{Limit, RateLimitError};

    // The path as the router reads it (`%61dmin` is `admin` there): the raw one would let an
    // encoded path reach these pages without spending anything.
    let limited = limited_per_address(req.match_info().as_str());
    let state = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .cloned();
    if let (true, Some(state)) = (limited, state) {
        let address = crate::routes::client_address(req.request());
        let refusal = match state.admit(Limit::Address, &address).await {
            Ok(()) => None,
            Err(RateLimitError::TooMany { retry_after, .. }) => {
                let secs = crate::error::retry_after_seconds(retry_after);
                let page = state.documents.pages.result(
                    StatusCode::TOO_MANY_REQUESTS,
                    false,
                    "Too many requests",
                    &format!(
                        "Too many requests came from your network. Please try again in {secs} seconds."
                    ),
                );
                Some(crate::routes::with_retry_after(page, retry_after))
            }
            Err(RateLimitError::Storage(e)) => {
                tracing::warn!(error = %e, "the address limit could not be checked");
                Some(state.documents.pages.result(
                    StatusCode::SERVICE_UNAVAILABLE,
                    false,
                    "Temporarily unavailable",
                    "This page is not available right now. Please try again in a minute.",
                ))
            }
        };
        if let Some(page) = refusal {
            return Ok(req.into_response(page).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
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
                    time_limit(Duration::from_millis(20), TIMEOUT_MESSAGE, true, req, next)
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
        assert_eq!(
            res.headers().get("x-content-type-options").unwrap(),
            "nosniff"
        );
        assert_eq!(
            res.headers().get("strict-transport-security").unwrap(),
            "max-age=63072000; includeSubDomains"
        );
        let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "timeout");
    }
}
