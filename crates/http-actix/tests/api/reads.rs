//! GPT reads with a session token: the session is checked by the read itself, so a read costs
//! one call to the store (one round trip on a SQL store), and the answers are those of a
//! session checked first: 401 `invalid_token` for a session that has ended, the user's rate
//! limit spent right after the read (a user already refused is refused before it).

use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{error_code, spawn_app, spawn_app_with, TestApp, API_KEY};

/// The three reads, each with `token` the way a GPT sends it.
async fn reads(app: &TestApp, token: &str) -> Vec<reqwest::Response> {
    let bearer = app
        .request(Method::GET, "/api/gpt/accounts")
        .header("x-api-key", API_KEY)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let accounts = app
        .post("/api/gpt/accounts/list", &json!({ "token": token }))
        .await;
    let conversations = app
        .post(
            "/conversations/list",
            &json!({ "token": token, "limit": 5 }),
        )
        .await;
    vec![bearer, accounts, conversations]
}

#[tokio::test]
async fn a_read_with_a_session_token_is_one_call_to_the_store() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    let saved = app
        .post(
            "/conversations",
            &json!({ "token": token, "summary": "First chat", "messages": [] }),
        )
        .await;
    assert_eq!(saved.status(), 200);
    for (i, res) in reads(&app, &token).await.into_iter().enumerate() {
        assert_eq!(res.status(), 200, "read {i}");
    }
    let paths: [(Method, &str, Option<Value>); 3] = [
        (Method::GET, "/api/gpt/accounts", None),
        (
            Method::POST,
            "/api/gpt/accounts/list",
            Some(json!({ "token": token })),
        ),
        (
            Method::POST,
            "/conversations/list",
            Some(json!({ "token": token, "limit": 5 })),
        ),
    ];
    for (method, path, body) in paths {
        let before = app.store.port_calls();
        let mut req = app.request(method, path).header("x-api-key", API_KEY);
        req = match body {
            Some(body) => req.json(&body),
            None => req.bearer_auth(&token),
        };
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(app.store.port_calls() - before, 1, "{path}: one store call");
    }
    // A write still checks the session first: two calls.
    let before = app.store.port_calls();
    let saved = app
        .post(
            "/conversations",
            &json!({ "token": token, "summary": "Second chat", "messages": [] }),
        )
        .await;
    assert_eq!(saved.status(), 200);
    assert!(app.store.port_calls() - before >= 2);
}

#[tokio::test]
async fn a_read_refuses_a_session_that_has_ended_as_a_check_first_would() {
    let app = spawn_app().await;
    // Logged out: every read 401, whether the user has something to read or not.
    let ann = app.sign_in("ann@example.com").await;
    app.post(
        "/conversations",
        &json!({ "token": ann, "summary": "Kept", "messages": [] }),
    )
    .await;
    assert_eq!(
        app.post("/auth/logout", &json!({ "token": ann }))
            .await
            .status(),
        200
    );
    for res in reads(&app, &ann).await {
        assert_eq!(error_code(res, 401).await, "invalid_token");
    }
    // Deleted with everything they had.
    let bob = app.sign_in("bob@example.com").await;
    assert_eq!(
        app.post("/me/delete", &json!({ "token": bob }))
            .await
            .status(),
        200
    );
    for res in reads(&app, &bob).await {
        assert_eq!(error_code(res, 401).await, "invalid_token");
    }
    // Expired: let through to the session's last second, refused at its end (the token's own
    // expiry is the session's, so the token is refused first here; the read's own check of
    // the expiry is pinned at the microsecond by the storage contract).
    let cy = app.sign_in("cy@example.com").await;
    app.clock
        .advance(Duration::hours(12) - Duration::seconds(1));
    for res in reads(&app, &cy).await {
        assert_eq!(res.status(), 200);
    }
    app.clock.advance(Duration::seconds(1));
    for res in reads(&app, &cy).await {
        assert_eq!(error_code(res, 401).await, "invalid_token");
    }
}

#[tokio::test]
async fn a_bad_limit_is_refused_before_the_session_is_read() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    for limit in [0, 51] {
        let res = app
            .post(
                "/conversations/list",
                &json!({ "token": token, "limit": limit }),
            )
            .await;
        assert_eq!(error_code(res, 422).await, "invalid_limit");
    }
    let res = app
        .post(
            "/conversations/list",
            &json!({ "token": token, "limit": 50 }),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_users_reads_spend_their_rate_limit_after_the_read() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_USER_PER_MINUTE", "60".to_owned()),
        ("RATE_LIMIT_USER_BURST", "3".to_owned()),
    ])
    .await;
    let ann = app.sign_in("ann@example.com").await;
    let bob = app.sign_in("bob@example.com").await;
    // Ann's other session (a new code after the resend cooldown), ended: it spends one of her
    // three tokens.
    app.clock.advance(Duration::minutes(2));
    let ended = app.sign_in("ann@example.com").await;
    assert_eq!(
        app.post("/auth/logout", &json!({ "token": ended }))
            .await
            .status(),
        200
    );
    for _ in 0..2 {
        let res = app
            .post("/conversations/list", &json!({ "token": ann }))
            .await;
        assert_eq!(res.status(), 200);
    }
    let before = app.store.port_calls();
    let res = app
        .post("/conversations/list", &json!({ "token": ann }))
        .await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(error_code(res, 429).await, "rate_limited");
    assert_eq!(
        app.store.port_calls() - before,
        1,
        "the read, not a second check"
    );
    // Refused now, the next ones are refused before the read: no store call at all.
    let before = app.store.port_calls();
    for res in reads(&app, &ann).await {
        assert_eq!(error_code(res, 429).await, "rate_limited");
    }
    assert_eq!(app.store.port_calls(), before, "refused from memory");
    // The ended session's token too, while she is refused: 429 from memory, before its
    // session is known (docs/security.md: it learns only that its user is busy).
    let res = app
        .post("/conversations/list", &json!({ "token": ended }))
        .await;
    assert_eq!(error_code(res, 429).await, "rate_limited");
    assert_eq!(app.store.port_calls(), before);
    // Another user is not held up; a logged-out session is still 401, not 429.
    for res in reads(&app, &bob).await {
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        app.post("/auth/logout", &json!({ "token": ann }))
            .await
            .status(),
        429
    );
    app.clock.advance(Duration::seconds(1));
    assert_eq!(
        app.post("/auth/logout", &json!({ "token": ann }))
            .await
            .status(),
        200
    );
    let res = app
        .post("/conversations/list", &json!({ "token": ann }))
        .await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
    let res = app
        .post("/conversations/list", &json!({ "token": ended }))
        .await;
    assert_eq!(
        error_code(res, 401).await,
        "invalid_token",
        "once the refusal ended"
    );
}
