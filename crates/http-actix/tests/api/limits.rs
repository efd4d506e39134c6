//! The GPT API's rate limits: per API key (or OAuth client) and per user, 429 `rate_limited`
//! with `Retry-After`, checked before the store is asked anything.

use reqwest::Method;
use time::Duration;

use crate::helpers::{error_code, spawn_app_with, TestApp, API_KEY, OTHER_KEY};

/// `GET /api/gpt/accounts` as ChatGPT's user `user` with `key`.
async fn accounts(app: &TestApp, key: &str, user: &str) -> reqwest::Response {
    app.request(Method::GET, "/api/gpt/accounts")
        .header("x-api-key", key)
        .header("openai-ephemeral-user-id", user)
        .send()
        .await
        .unwrap()
}

fn limits(api_key: (u32, u32), user: (u32, u32)) -> Vec<(&'static str, String)> {
    vec![
        ("RATE_LIMIT_API_KEY_PER_MINUTE", api_key.0.to_string()),
        ("RATE_LIMIT_API_KEY_BURST", api_key.1.to_string()),
        ("RATE_LIMIT_USER_PER_MINUTE", user.0.to_string()),
        ("RATE_LIMIT_USER_BURST", user.1.to_string()),
    ]
}

async fn refused(res: reqwest::Response, retry_after: &str) -> String {
    assert_eq!(
        res.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some(retry_after.to_owned())
    );
    let message = res.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&message).unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{message}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_api_key_gets_its_burst_then_429_with_retry_after_until_a_token_is_due() {
    let app = spawn_app_with(&limits((60, 3), (6_000, 1_000))).await;
    for user in ["u1", "u2", "u3"] {
        assert_eq!(accounts(&app, API_KEY, user).await.status(), 200);
    }
    let message = refused(accounts(&app, API_KEY, "u4").await, "1").await;
    assert!(
        message.contains("RATE_LIMIT_API_KEY_PER_MINUTE"),
        "{message}"
    );
    // Another key has its own bucket.
    assert_eq!(accounts(&app, OTHER_KEY, "u4").await.status(), 200);
    app.clock.advance(Duration::milliseconds(999));
    refused(accounts(&app, API_KEY, "u4").await, "1").await;
    app.clock.advance(Duration::milliseconds(1));
    assert_eq!(accounts(&app, API_KEY, "u4").await.status(), 200);
    refused(accounts(&app, API_KEY, "u4").await, "1").await;
}

#[tokio::test]
async fn a_user_gets_their_burst_whatever_the_key_and_others_are_not_held_up() {
    let app = spawn_app_with(&limits((6_000, 1_000), (6, 2))).await;
    assert_eq!(accounts(&app, API_KEY, "ann").await.status(), 200);
    assert_eq!(accounts(&app, OTHER_KEY, "ann").await.status(), 200);
    let message = refused(accounts(&app, API_KEY, "ann").await, "10").await;
    assert!(message.contains("RATE_LIMIT_USER_PER_MINUTE"), "{message}");
    refused(accounts(&app, OTHER_KEY, "ann").await, "10").await;
    assert_eq!(accounts(&app, API_KEY, "bob").await.status(), 200);
    // Sign-in names no user: only the key's bucket counts.
    let res = app
        .post(
            "/auth/send-link",
            &serde_json::json!({ "email": "ann@example.com" }),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_keys_limit_is_checked_before_the_store_is_asked_anything() {
    let app = spawn_app_with(&limits((60, 1), (6_000, 1_000))).await;
    assert_eq!(accounts(&app, API_KEY, "u1").await.status(), 200);
    app.store.set_unavailable(true);
    // Over its limit the key is refused at once; the store is not reached (it would say 503).
    refused(accounts(&app, API_KEY, "u1").await, "1").await;
    assert_eq!(
        error_code(accounts(&app, OTHER_KEY, "u1").await, 503).await,
        "database_unavailable"
    );
    app.store.set_unavailable(false);
}

#[tokio::test]
async fn sign_in_spends_from_the_keys_bucket() {
    let app = spawn_app_with(&limits((60, 2), (6_000, 1_000))).await;
    for email in ["a@example.com", "b@example.com"] {
        let res = app
            .post("/auth/send-link", &serde_json::json!({ "email": email }))
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .post(
            "/auth/send-link",
            &serde_json::json!({ "email": "c@example.com" }),
        )
        .await;
    refused(res, "1").await;
    assert!(
        app.mailer.last_code_for("c@example.com").is_none(),
        "no mail sent"
    );
}

#[tokio::test]
async fn limits_can_be_turned_off_and_refusals_are_counted_in_metrics() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_API_KEY_PER_MINUTE", "off".to_owned()),
        ("RATE_LIMIT_USER_PER_MINUTE", "60".to_owned()),
        ("RATE_LIMIT_USER_BURST", "1".to_owned()),
    ])
    .await;
    for i in 0..700 {
        assert_eq!(
            accounts(&app, API_KEY, &format!("u{i}")).await.status(),
            200
        );
    }
    refused(accounts(&app, API_KEY, "u0").await, "1").await;
    let metrics = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gptgate_rate_limited_total{limit=\"user\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("limit=\"api_key\""), "{metrics}");
}

async fn get(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app.request(Method::GET, path);
    if let Some(hop) = forwarded_for {
        request = request.header("x-forwarded-for", hop);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_person_facing_pages_share_a_per_address_bucket_and_a_rotating_forwarded_header_escapes_nothing(
) {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ADDRESS_PER_MINUTE", "60".to_owned()),
        ("RATE_LIMIT_ADDRESS_BURST", "5".to_owned()),
    ])
    .await;
    for path in [
        "/integrations",
        "/oauth/authorize?client_id=x",
        "/auth/start?token=x",
        "/auth/callback/linear?state=x",
        "/admin/login",
    ] {
        let res = get(&app, path, Some("203.0.113.1")).await;
        assert_ne!(res.status(), 429, "{path}");
    }
    for (path, hop) in [
        ("/integrations", "203.0.113.2"),
        ("/oauth/authorize", "198.51.100.7"),
        ("/admin/login", "192.0.2.99"),
    ] {
        let res = get(&app, path, Some(hop)).await;
        assert_eq!(res.status(), 429, "{path}");
        assert_eq!(res.headers()["retry-after"], "1");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let page = res.text().await.unwrap();
        assert!(page.contains("try again in 1 seconds"), "{page}");
    }
    // The ignored header is said, once per process, to the operator.
    let logs =
        String::from_utf8_lossy(&crate::helpers::captured_logs().lock().unwrap()).into_owned();
    assert!(
        logs.contains("X-Forwarded-For came from an address TRUSTED_PROXIES does not list"),
        "the warning is logged"
    );
    // Other routes are not these pages' business.
    assert_eq!(get(&app, "/healthz", None).await.status(), 200);
    assert_eq!(accounts(&app, API_KEY, "u1").await.status(), 200);
    app.clock.advance(Duration::seconds(1));
    assert_ne!(get(&app, "/integrations", None).await.status(), 429);
    let metrics = get(&app, "/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("gptgate_rate_limited_total{limit=\"address\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_address_has_its_own_bucket() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ADDRESS_PER_MINUTE", "60".to_owned()),
        ("RATE_LIMIT_ADDRESS_BURST", "1".to_owned()),
        ("TRUSTED_PROXIES", "127.0.0.1".to_owned()),
    ])
    .await;
    assert_ne!(
        get(&app, "/integrations", Some("203.0.113.1"))
            .await
            .status(),
        429
    );
    assert_eq!(
        get(&app, "/integrations", Some("203.0.113.1"))
            .await
            .status(),
        429
    );
    assert_ne!(
        get(&app, "/integrations", Some("203.0.113.2"))
            .await
            .status(),
        429
    );
    // A hop the client wrote itself, left of the real one, changes nothing.
    assert_eq!(
        get(&app, "/integrations", Some("10.9.9.9, 203.0.113.2"))
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn every_gpt_operation_documents_the_rate_limits_429() {
    let app = spawn_app_with(&[]).await;
    let document = app.get_json("/openapi.json").await;
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let answer = &operation["responses"]["429"];
            assert!(
                answer["description"].is_string(),
                "{method} {path} documents no 429"
            );
            operations += 1;
        }
    }
    assert!(operations > 15, "{operations}");
}

#[tokio::test]
async fn a_percent_encoded_path_spends_from_the_same_bucket() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ADDRESS_PER_MINUTE", "60".to_owned()),
        ("RATE_LIMIT_ADDRESS_BURST", "2".to_owned()),
    ])
    .await;
    assert_ne!(get(&app, "/%61dmin/login", None).await.status(), 429);
    assert_ne!(get(&app, "/%69ntegrations", None).await.status(), 429);
    assert_eq!(get(&app, "/admin/login", None).await.status(), 429);
    assert_eq!(get(&app, "/oauth/%61uthorize", None).await.status(), 429);
}
