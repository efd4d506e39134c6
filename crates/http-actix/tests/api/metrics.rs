//! `GET /metrics`: requests by route template and status with latency, sign-in emails,
//! provider calls; open by default, behind `METRICS_TOKEN` when it is set.

use reqwest::Method;

use crate::helpers::{
    connect_linear, error_code, linear_settings, spawn_app, spawn_app_with, Browser, TestApp,
};

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app.request(Method::GET, "/metrics");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.send().await.unwrap()
}

/// The value of the series `series` (name and labels exactly as rendered), or 0.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_never_by_path() {
    let app = spawn_app().await;
    for path in ["/healthz", "/healthz", "/made-up/1", "/made-up/2"] {
        app.request(Method::GET, path).send().await.unwrap();
    }
    // A route with a parameter counts under its template.
    app.request(
        Method::DELETE,
        "/conversations/00000000-0000-4000-8000-000000000000",
    )
    .send()
    .await
    .unwrap();
    let res = scrape(&app, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    assert_eq!(
        value(
            &text,
            "gptgate_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "gptgate_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        2.0
    );
    assert!(!text.contains("made-up"), "no path in a label: {text}");
    assert!(
        text.contains("route=\"/conversations/{id}\""),
        "the template: {text}"
    );
    assert_eq!(
        value(
            &text,
            "gptgate_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"}"
        ),
        2.0
    );
}

#[tokio::test]
async fn emails_and_provider_calls_are_counted() {
    let linear = wiremock::MockServer::start().await;
    let app = spawn_app_with(&linear_settings(&linear)).await;
    let ann = app.sign_in("ann.lee@example.com").await;
    connect_linear(&app, &Browser::new(&app.address), &linear, &ann).await;
    let text = scrape(&app, None).await.text().await.unwrap();
    assert_eq!(value(&text, "gptgate_emails_total{outcome=\"sent\"}"), 1.0);
    assert_eq!(
        value(
            &text,
            "gptgate_provider_calls_total{call=\"exchange_code\",outcome=\"ok\",provider=\"linear\"}"
        ),
        1.0
    );
    assert!(!text.contains("ann.lee"), "no address in the metrics");
}

#[tokio::test]
async fn with_a_metrics_token_only_its_bearer_may_scrape() {
    let token = "0123456789abcdef0123456789abcdef";
    let app = spawn_app_with(&[("METRICS_TOKEN", token.to_owned())]).await;
    assert_eq!(
        error_code(scrape(&app, None).await, 401).await,
        "unauthorized"
    );
    for wrong in ["", "0123456789abcdef0123456789abcdeX", "0123456789abcdef"] {
        assert_eq!(scrape(&app, Some(wrong)).await.status(), 401, "{wrong:?}");
    }
    let res = scrape(&app, Some(token)).await;
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("gptgate_http_requests_total"));
}
