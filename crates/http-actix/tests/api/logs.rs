use serde_json::{json, Value};

use crate::helpers::{captured_logs, spawn_app, API_KEY};

#[tokio::test]
async fn no_code_token_key_or_conversation_text_reaches_the_logs() {
    let app = spawn_app().await;
    let email = "secret-keeper@example.com";
    let code = app.send_code(email).await;
    let res = app
        .post(
            "/auth/verify-email",
            &json!({ "email": email, "code": code }),
        )
        .await;
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = "my very private diary entry 7d1f";
    let res = app
        .post(
            "/conversations",
            &json!({ "token": token, "summary": "summary 9a2c", "messages": [{ "role": "user", "content": text }] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let listed = app
        .post("/conversations/list", &json!({ "token": token }))
        .await;
    assert!(listed.text().await.unwrap().contains(text));
    // A failing call too: a wrong code and a bad token are logged as events, not as values.
    app.post(
        "/auth/verify-email",
        &json!({ "email": email, "code": "000000" }),
    )
    .await;
    app.post(
        "/conversations/list",
        &json!({ "token": format!("{token}x") }),
    )
    .await;

    let logs = String::from_utf8(captured_logs().lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("sign-in code sent"),
        "the flow was logged at all"
    );
    // The code stands alone wherever it would be logged; six digits inside a longer number
    // (a duration such as elapsed_ms=0.4123456) are not it.
    let standalone = |at: usize| {
        let before = logs[..at].chars().next_back();
        let after = logs[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
    };
    assert!(
        !logs
            .match_indices(code.as_str())
            .any(|(at, _)| standalone(at)),
        "the code appears in the logs"
    );
    for secret in [token.as_str(), API_KEY, text, "summary 9a2c", email] {
        assert!(!logs.contains(secret), "{secret:?} appears in the logs");
    }
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature));
}
