use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{error_code, spawn_app, spawn_app_with, TestApp, API_KEY};

fn conversation(summary: &str) -> Value {
    json!({
        "title": "Spanish",
        "summary": summary,
        "messages": [
            { "role": "user", "content": "Hola" },
            { "role": "assistant", "content": "¡Hola! ¿Qué tal?" }
        ],
        "raw_text": ["User: Hola"],
        "exercises": [{ "name": "Greetings", "score": 90, "notes": "good" }]
    })
}

fn with_token(mut body: Value, token: &str) -> Value {
    body["token"] = json!(token);
    body
}

async fn list(app: &TestApp, token: &str, extra: Value) -> Value {
    let mut body = with_token(extra, token);
    if body.get("limit").is_none() {
        body["limit"] = json!(10);
    }
    let res = app.post("/conversations/list", &body).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_saved_conversation_is_listed_back_with_every_field() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    let res = app
        .post(
            "/conversations",
            &with_token(conversation("Practised greetings"), &token),
        )
        .await;
    assert_eq!(res.status(), 200);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["updated"], false);
    let listed = list(&app, &token, json!({})).await;
    let c = &listed["conversations"][0];
    assert_eq!(c["id"], saved["id"]);
    assert_eq!(c["summary"], "Practised greetings");
    assert_eq!(c["messages"][1]["content"], "¡Hola! ¿Qué tal?");
    assert_eq!(c["raw_text"][0], "User: Hola");
    assert_eq!(c["exercises"][0]["score"], 90);
    assert_eq!(c["truncated"], false);
    assert_eq!(listed["nextCursor"], Value::Null);
}

#[tokio::test]
async fn every_identity_reaches_its_own_conversations() {
    let app = spawn_app_with(&[("TRUST_GPT_USER_ID_HEADER", "true".to_owned())]).await;
    let token = app.sign_in("ann@example.com").await;
    let bearer = app
        .request(Method::POST, "/conversations")
        .header("x-api-key", API_KEY)
        .header("authorization", format!("Bearer {token}"))
        .json(&conversation("by bearer"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    for (header, value) in [
        ("x-gpt-user-id", "g-123"),
        ("openai-ephemeral-user-id", "eph-9"),
    ] {
        let res = app
            .request(Method::POST, "/conversations")
            .header("x-api-key", API_KEY)
            .header(header, value)
            .json(&conversation(header))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{header}");
        let res = app
            .request(Method::POST, "/conversations/list")
            .header("x-api-key", API_KEY)
            .header(header, value)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let listed: Value = res.json().await.unwrap();
        assert_eq!(
            listed["conversations"].as_array().unwrap().len(),
            1,
            "{header}"
        );
        assert_eq!(listed["conversations"][0]["summary"], header);
    }
    let mine = list(&app, &token, json!({})).await;
    assert_eq!(mine["conversations"][0]["summary"], "by bearer");
}

#[tokio::test]
async fn the_gpt_user_id_header_is_refused_unless_the_operator_trusts_it() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    for body in [json!({}), json!({ "token": token })] {
        let res = app
            .request(Method::POST, "/conversations/list")
            .header("x-api-key", API_KEY)
            .header("x-gpt-user-id", "g-victim")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "untrusted_identity_header");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("TRUST_GPT_USER_ID_HEADER=true") && message.contains("verifyCode"),
            "says what to do instead and how to enable it: {message}"
        );
    }
    let doc = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !doc.contains("x-gpt-user-id"),
        "the document never offers the model the header"
    );
}

#[tokio::test]
async fn a_token_in_the_body_outranks_the_ephemeral_header() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    let res = app
        .request(Method::POST, "/conversations")
        .header("x-api-key", API_KEY)
        .header("openai-ephemeral-user-id", "eph-1")
        .json(&with_token(conversation("signed in"), &token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        list(&app, &token, json!({})).await["conversations"][0]["summary"],
        "signed in"
    );
}

#[tokio::test]
async fn the_api_key_alone_identifies_nobody() {
    let app = spawn_app().await;
    let res = app.post("/conversations/list", &json!({})).await;
    assert_eq!(error_code(res, 401).await, "not_signed_in");
    let res = app
        .request(Method::POST, "/conversations/list")
        .header("x-gpt-user-id", "g-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, 401).await,
        "missing_api_key",
        "headers need the key too"
    );
    let res = app
        .request(Method::POST, "/conversations/list")
        .header("x-api-key", API_KEY)
        .header("authorization", "Basic abc")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "invalid_token");
}

#[tokio::test]
async fn saving_the_same_chat_again_updates_it() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    let save = |summary: &'static str| {
        app.request(Method::POST, "/conversations")
            .header("x-api-key", API_KEY)
            .header("openai-conversation-id", "chat-42")
            .json(&with_token(conversation(summary), &token))
            .send()
    };
    let first: Value = save("v1").await.unwrap().json().await.unwrap();
    app.clock.advance(Duration::minutes(5));
    let second: Value = save("v2").await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["updated"], true);
    let listed = list(&app, &token, json!({})).await;
    assert_eq!(listed["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(listed["conversations"][0]["summary"], "v2");
}

#[tokio::test]
async fn listing_pages_with_a_cursor() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    for n in 0..5 {
        app.post(
            "/conversations",
            &with_token(conversation(&format!("chat {n}")), &token),
        )
        .await;
        app.clock.advance(Duration::seconds(1));
    }
    let first = list(&app, &token, json!({ "limit": 2 })).await;
    assert_eq!(first["conversations"][0]["summary"], "chat 4");
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let second = list(&app, &token, json!({ "limit": 2, "cursor": cursor })).await;
    assert_eq!(second["conversations"][0]["summary"], "chat 2");
    let third = list(
        &app,
        &token,
        json!({ "limit": 2, "cursor": second["nextCursor"] }),
    )
    .await;
    assert_eq!(third["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(third["nextCursor"], Value::Null);
}

#[tokio::test]
async fn bad_conversation_input_names_the_field() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    let mut bad_score = conversation("x");
    bad_score["exercises"][0]["score"] = json!(101);
    let mut bad_role = conversation("x");
    bad_role["messages"][0]["role"] = json!("robot");
    let mut no_summary = conversation("x");
    no_summary.as_object_mut().unwrap().remove("summary");
    let mut long_summary = conversation("x");
    long_summary["summary"] = json!("s".repeat(2_001));
    let cases = [
        (bad_score, "exercises[0].score"),
        (bad_role, "messages[0].role"),
        (no_summary, "summary is required"),
        (long_summary, "2000 characters"),
    ];
    for (body, needle) in cases {
        let res = app.post("/conversations", &with_token(body, &token)).await;
        assert_eq!(res.status(), 422);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_conversation");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{body}"
        );
    }
    for (extra, code) in [
        (json!({ "limit": 0 }), "invalid_limit"),
        (json!({ "limit": 51 }), "invalid_limit"),
        (json!({ "cursor": "garbage" }), "invalid_cursor"),
        (
            json!({ "cursor": "99999999999999999999999999999999999999.00000000000000000000000000000000" }),
            "invalid_cursor",
        ),
        (json!({ "limit": "ten" }), "invalid_field"),
    ] {
        let res = app
            .post("/conversations/list", &with_token(extra, &token))
            .await;
        assert_eq!(error_code(res, 422).await, code);
    }
}

#[tokio::test]
async fn a_user_cannot_touch_another_users_conversation() {
    let app = spawn_app().await;
    let ann = app.sign_in("ann@example.com").await;
    let bob = app.sign_in("bob@example.com").await;
    let saved: Value = app
        .post("/conversations", &with_token(conversation("ann's"), &ann))
        .await
        .json()
        .await
        .unwrap();
    let id = saved["id"].as_str().unwrap();
    let delete = |token: &str, id: &str| {
        app.request(Method::DELETE, &format!("/conversations/{id}"))
            .header("x-api-key", API_KEY)
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(
        error_code(delete(&bob, id).await.unwrap(), 404).await,
        "conversation_not_found"
    );
    assert_eq!(
        list(&app, &bob, json!({})).await["conversations"],
        json!([])
    );
    assert_eq!(
        error_code(delete(&ann, "not-a-uuid").await.unwrap(), 404).await,
        "conversation_not_found"
    );
    assert_eq!(delete(&ann, id).await.unwrap().status(), 200);
    assert_eq!(
        list(&app, &ann, json!({})).await["conversations"],
        json!([])
    );
}

#[tokio::test]
async fn a_gpt_that_carries_the_token_in_the_body_deletes_with_a_post() {
    let app = spawn_app().await;
    let ann = app.sign_in("ann@example.com").await;
    let bob = app.sign_in("bob@example.com").await;
    let saved: Value = app
        .post("/conversations", &with_token(conversation("ann's"), &ann))
        .await
        .json()
        .await
        .unwrap();
    let id = saved["id"].as_str().unwrap();
    let path = format!("/conversations/{id}/delete");
    let res = app.post(&path, &json!({ "token": bob })).await;
    assert_eq!(error_code(res, 404).await, "conversation_not_found");
    let res = app.post(&path, &json!({})).await;
    assert_eq!(error_code(res, 401).await, "not_signed_in");
    let res = app.post(&path, &json!({ "token": ann })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        list(&app, &ann, json!({})).await["conversations"],
        json!([])
    );
    let res = app.post(&path, &json!({ "token": ann })).await;
    assert_eq!(error_code(res, 404).await, "conversation_not_found", "gone");
}

#[tokio::test]
async fn a_huge_conversation_is_listed_cut_and_marked_under_the_limit() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    // Two saves of ~60,000 characters each; the test body limit is 64 KiB.
    for n in 0..2 {
        let mut body = conversation(&format!("big {n}"));
        body["messages"] = json!([{ "role": "user", "content": "x".repeat(30_000) },
                                   { "role": "assistant", "content": "y".repeat(30_000) }]);
        let res = app.post("/conversations", &with_token(body, &token)).await;
        assert_eq!(res.status(), 200);
        app.clock.advance(Duration::seconds(1));
    }
    let res = app
        .post("/conversations/list", &json!({ "token": token }))
        .await;
    let text = res.text().await.unwrap();
    assert!(
        text.chars().count() < 100_000,
        "{} characters",
        text.chars().count()
    );
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        listed["conversations"].as_array().unwrap().len(),
        1,
        "the second waits for the next page"
    );
    assert_eq!(listed["conversations"][0]["truncated"], false);
    let next = list(&app, &token, json!({ "cursor": listed["nextCursor"] })).await;
    assert_eq!(next["conversations"][0]["summary"], "big 0");
}

#[tokio::test]
async fn deleting_my_data_removes_everything_and_ends_the_session() {
    let app = spawn_app().await;
    let token = app.sign_in("ann@example.com").await;
    app.post("/conversations", &with_token(conversation("mine"), &token))
        .await;
    let res = app.post("/me/delete", &json!({ "token": token })).await;
    assert_eq!(res.status(), 200);
    let res = app
        .post("/conversations/list", &json!({ "token": token }))
        .await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
    app.clock.advance(Duration::minutes(2));
    let again = app.sign_in("ann@example.com").await;
    assert_eq!(
        list(&app, &again, json!({})).await["conversations"],
        json!([])
    );
}
