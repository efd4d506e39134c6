use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{error_code, spawn_app, API_KEY, BODY_LIMIT, OTHER_KEY};

#[tokio::test]
async fn send_link_answers_alike_for_every_well_formed_email() {
    let app = spawn_app().await;
    let mut shapes = Vec::new();
    for email in ["known@example.com", "never-seen@example.org"] {
        let res = app
            .post("/auth/send-link", &json!({ "email": email }))
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["email"], email);
        shapes.push(body["message"].as_str().unwrap().replace(email, "<email>"));
    }
    assert_eq!(shapes[0], shapes[1]);
    assert_eq!(app.mailer.sent().len(), 2);
}

#[tokio::test]
async fn send_link_normalizes_the_address() {
    let app = spawn_app().await;
    let res = app
        .post("/auth/send-link", &json!({ "email": "  Ann@Example.COM " }))
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["email"], "ann@example.com");
}

#[tokio::test]
async fn invalid_sign_in_input_gets_a_clear_4xx() {
    let app = spawn_app().await;
    let cases = [
        (
            "/auth/send-link",
            json!({ "email": "not-an-email" }),
            422,
            "invalid_email",
        ),
        ("/auth/send-link", json!({}), 422, "invalid_field"),
        (
            "/auth/send-link",
            json!({ "email": 42 }),
            422,
            "invalid_field",
        ),
        (
            "/auth/verify-email",
            json!({ "email": "a@example.com", "code": "12ab56" }),
            422,
            "invalid_code_format",
        ),
        (
            "/auth/verify-email",
            json!({ "email": "a@example.com" }),
            422,
            "invalid_field",
        ),
        (
            "/auth/verify-email",
            json!({ "email": "a@example.com", "code": true }),
            422,
            "invalid_field",
        ),
    ];
    for (path, body, status, code) in cases {
        let res = app.post(path, &body).await;
        assert_eq!(error_code(res, status).await, code, "{path} {body}");
    }
}

#[tokio::test]
async fn malformed_json_and_oversized_bodies_are_refused_in_the_error_shape() {
    let app = spawn_app().await;
    let res = app
        .request(Method::POST, "/auth/send-link")
        .header("x-api-key", API_KEY)
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 400).await, "malformed_json");

    // The largest body accepted (it then fails for its content), and one byte more.
    for (size, status) in [(BODY_LIMIT, 422), (BODY_LIMIT + 1, 413)] {
        let padding = size - "{\"email\": \"\"}".len();
        let body = format!("{{\"email\": \"{}\"}}", "a".repeat(padding));
        assert_eq!(body.len(), size);
        let res = app
            .request(Method::POST, "/auth/send-link")
            .header("x-api-key", API_KEY)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{size} bytes");
        if status == 413 {
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "payload_too_large");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("({BODY_LIMIT} bytes)"))
                    && message.contains("BODY_LIMIT_BYTES"),
                "names the limit and the setting: {message}"
            );
        }
    }
}

#[tokio::test]
async fn the_api_key_is_required_and_compared_whole() {
    let app = spawn_app().await;
    let send = |key: Option<&'static str>| {
        let mut req = app
            .request(Method::POST, "/auth/send-link")
            .json(&json!({ "email": "a@example.com" }));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        req.send()
    };
    assert_eq!(
        error_code(send(None).await.unwrap(), 401).await,
        "missing_api_key"
    );
    let wrong_same_length = send(Some("test-api-key-0123456789abcdefghijklmnoX"))
        .await
        .unwrap();
    let wrong_short = send(Some("x")).await.unwrap();
    let a: Value = wrong_same_length.json().await.unwrap();
    let b: Value = wrong_short.json().await.unwrap();
    assert_eq!(a, b, "the answer does not depend on how close the key was");
    assert_eq!(a["error"]["code"], "invalid_api_key");
    assert_eq!(
        send(Some(OTHER_KEY)).await.unwrap().status(),
        200,
        "every listed key works"
    );

    let in_query = app
        .request(
            Method::POST,
            &format!("/auth/send-link?api_key={API_KEY}&x-api-key={API_KEY}"),
        )
        .json(&json!({ "email": "a@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(in_query, 401).await, "missing_api_key");
}

#[tokio::test]
async fn a_resend_within_a_minute_gets_429_with_retry_after() {
    let app = spawn_app().await;
    app.send_code("ann@example.com").await;
    app.clock.advance(Duration::seconds(20));
    let res = app
        .post("/auth/send-link", &json!({ "email": "ann@example.com" }))
        .await;
    assert_eq!(res.headers()["retry-after"], "40");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "resend_cooldown");
    assert_eq!(
        body["error"]["retryAfter"], 40,
        "a GPT reads bodies, not headers"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("Please try again in 40 seconds."),
        "{body}"
    );
}

#[tokio::test]
async fn the_right_code_returns_a_session_token() {
    let app = spawn_app().await;
    let code = app.send_code("ann@example.com").await;
    let res = app
        .post(
            "/auth/verify-email",
            &json!({ "email": "ANN@example.com", "code": code }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["token"].as_str().unwrap().split('.').count(),
        3,
        "a JWT"
    );
    assert!(body["userId"].is_string());
    assert_eq!(
        body["expiresAt"], "2026-01-02T00:00:00Z",
        "12 hours after the fake clock's noon"
    );
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn a_code_sent_as_a_number_keeps_its_leading_zeros() {
    let app = spawn_app().await;
    // Send codes until one starts with a zero, as a GPT would mangle it.
    for i in 0..40 {
        let email = format!("user{i}@example.com");
        let code = app.send_code(&email).await;
        if code.starts_with('0') {
            let number: u32 = code.parse().unwrap();
            let res = app
                .post(
                    "/auth/verify-email",
                    &json!({ "email": email, "code": number }),
                )
                .await;
            assert_eq!(res.status(), 200);
            return;
        }
    }
    panic!("no code with a leading zero in 40 draws");
}

#[tokio::test]
async fn wrong_expired_and_used_codes_get_the_same_answer() {
    let app = spawn_app().await;
    let app = &app;
    let verify = |email: &'static str, code: String| async move {
        app.post(
            "/auth/verify-email",
            &json!({ "email": email, "code": code }),
        )
        .await
    };
    let code = app.send_code("ann@example.com").await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let wrong_body: Value = verify("ann@example.com", wrong).await.json().await.unwrap();

    app.clock.advance(Duration::minutes(10));
    let expired = verify("ann@example.com", code.clone()).await;
    assert_eq!(expired.status(), 400);
    let expired_body: Value = expired.json().await.unwrap();

    app.clock.advance(Duration::minutes(1));
    let fresh = app.send_code("bob@example.com").await;
    assert_eq!(verify("bob@example.com", fresh.clone()).await.status(), 200);
    let used_body: Value = verify("bob@example.com", fresh).await.json().await.unwrap();

    assert_eq!(wrong_body["error"]["code"], "invalid_code");
    assert_eq!(wrong_body, expired_body);
    assert_eq!(wrong_body, used_body);
}

#[tokio::test]
async fn after_five_wrong_codes_the_right_one_gets_429() {
    let app = spawn_app().await;
    let code = app.send_code("ann@example.com").await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..5 {
        let res = app
            .post(
                "/auth/verify-email",
                &json!({ "email": "ann@example.com", "code": wrong }),
            )
            .await;
        assert_eq!(res.status(), 400);
    }
    let res = app
        .post(
            "/auth/verify-email",
            &json!({ "email": "ann@example.com", "code": code }),
        )
        .await;
    let wait = res.headers()["retry-after"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");
    assert_eq!(body["error"]["retryAfter"].to_string(), wait);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("try again in {wait} seconds")),
        "{body}"
    );
}

#[tokio::test]
async fn a_logged_out_token_is_refused() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    let res = app.post("/auth/logout", &json!({ "token": token })).await;
    assert_eq!(res.status(), 200);
    let res = app
        .post("/conversations/list", &json!({ "token": token }))
        .await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
}

#[tokio::test]
async fn logout_needs_a_session_token() {
    let app = spawn_app().await;
    let res = app
        .request(Method::POST, "/auth/logout")
        .header("x-api-key", API_KEY)
        .header("openai-ephemeral-user-id", "eph-1")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 400).await, "no_session");
}

#[tokio::test]
async fn a_token_stops_working_after_twelve_hours() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    app.clock
        .advance(Duration::hours(12) - Duration::seconds(1));
    assert_eq!(
        app.post("/conversations/list", &json!({ "token": token }))
            .await
            .status(),
        200
    );
    app.clock.advance(Duration::seconds(1));
    let res = app
        .post("/conversations/list", &json!({ "token": token }))
        .await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[2] = parts[2].chars().rev().collect();
    let res = app
        .post("/conversations/list", &json!({ "token": parts.join(".") }))
        .await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
}

#[tokio::test]
async fn an_api_key_may_cause_its_hourly_budget_of_sign_in_emails_and_not_one_more() {
    let app = crate::helpers::spawn_app_with(&[("MAIL_HOURLY_LIMIT", "2".to_owned())]).await;
    app.send_code("a@example.com").await;
    app.send_code("b@example.com").await;
    app.clock.advance(Duration::minutes(10));
    let res = app
        .post("/auth/send-link", &json!({ "email": "c@example.com" }))
        .await;
    assert_eq!(res.headers()["retry-after"], "3000");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "mail_budget_exhausted");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("try again in 3000 seconds"),
        "{body}"
    );
    assert_eq!(app.mailer.last_code_for("c@example.com"), None);
    let other = app
        .request(Method::POST, "/auth/send-link")
        .header("x-api-key", OTHER_KEY)
        .json(&json!({ "email": "c@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "each key has its own budget");
    app.clock.advance(Duration::minutes(50));
    app.send_code("d@example.com").await;
}
