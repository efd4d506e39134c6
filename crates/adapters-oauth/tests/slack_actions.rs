//! Slack's actions against wiremock, with Slack's real answers (HTTP 200 `ok:false` errors,
//! 429 with Retry-After).

mod support;

use gptgate_adapters_oauth::actions::slack;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionError, ProviderActions};
use serde_json::{json, Map, Value};
use time::Duration;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn actions(server: &MockServer) -> slack::SlackActions {
    slack::actions(&support::config(ProviderId::Slack, server, "/api")).unwrap()
}

async fn run(server: &MockServer, action: &str, params: Value) -> Result<Value, ActionError> {
    support::run_with(
        &actions(server),
        "xoxb-bot-token",
        &Map::new(),
        action,
        params,
    )
    .await
}

async fn post_message_answers(server: &MockServer, status: u16, body: Value) {
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-bot-token"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn post_message_posts_in_the_channel_and_thread() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-bot-token"))
        .and(body_partial_json(json!({
            "channel": "C123ABC456", "text": "Deploy done :tada:", "thread_ts": "1503435956.000247"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "channel": "C123ABC456", "ts": "1503435957.000248",
            "message": { "text": "Deploy done :tada:", "username": "gptgate", "bot_id": "B123ABC456",
                         "type": "message", "subtype": "bot_message", "ts": "1503435957.000248" }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let posted = run(
        &server,
        "post-message",
        json!({ "channel": "C123ABC456", "text": "Deploy done :tada:", "threadTs": "1503435956.000247" }),
    )
    .await
    .unwrap();
    assert_eq!(
        posted,
        json!({ "channel": "C123ABC456", "ts": "1503435957.000248" })
    );
}

#[tokio::test]
async fn list_channels_says_which_the_app_is_in_and_whether_there_are_more() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/conversations.list"))
        .and(query_param("limit", "2"))
        .and(query_param("types", "public_channel"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "channels": [
                { "id": "C012AB3CD", "name": "general", "is_channel": true, "is_member": true,
                  "topic": { "value": "Company-wide", "creator": "U1", "last_set": 1449709352 } },
                { "id": "C061EG9T2", "name": "random", "is_channel": true, "is_member": false,
                  "topic": { "value": "", "creator": "", "last_set": 0 } }
            ],
            "response_metadata": { "next_cursor": "dGVhbTpDMDYxRkE1UEI=" }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let listed = run(&server, "list-channels", json!({ "limit": 2 }))
        .await
        .unwrap();
    assert_eq!(listed["channels"][0]["name"], "general");
    assert_eq!(listed["channels"][0]["isMember"], true);
    assert_eq!(listed["channels"][1]["isMember"], false);
    assert_eq!(listed["more"], true);
}

#[tokio::test]
async fn slacks_errors_keep_their_meaning() {
    let server = MockServer::start().await;
    post_message_answers(
        &server,
        200,
        json!({ "ok": false, "error": "not_in_channel" }),
    )
    .await;
    match run(
        &server,
        "post-message",
        json!({ "channel": "C1", "text": "hi" }),
    )
    .await
    {
        Err(ActionError::Conflict { code, message }) => {
            assert_eq!(code, "not_in_channel");
            assert!(message.contains("/invite"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    for code in ["invalid_auth", "token_revoked", "token_expired"] {
        let server = MockServer::start().await;
        post_message_answers(&server, 200, json!({ "ok": false, "error": code })).await;
        assert!(
            matches!(
                run(
                    &server,
                    "post-message",
                    json!({ "channel": "C1", "text": "hi" })
                )
                .await,
                Err(ActionError::Unauthorized)
            ),
            "{code}"
        );
    }

    let server = MockServer::start().await;
    post_message_answers(
        &server,
        200,
        json!({ "ok": false, "error": "msg_too_long" }),
    )
    .await;
    assert!(matches!(
        run(&server, "post-message", json!({ "channel": "C1", "text": "hi" })).await,
        Err(ActionError::Rejected { ref code, .. }) if code == "msg_too_long"
    ));

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_json(json!({ "ok": false, "error": "ratelimited" })),
        )
        .mount(&server)
        .await;
    assert!(matches!(
        run(&server, "post-message", json!({ "channel": "C1", "text": "hi" })).await,
        Err(ActionError::RateLimited { retry_after: Some(d) }) if d == Duration::seconds(30)
    ));

    let server = MockServer::start().await;
    post_message_answers(
        &server,
        500,
        json!({ "ok": false, "error": "internal_error" }),
    )
    .await;
    assert!(matches!(
        run(
            &server,
            "post-message",
            json!({ "channel": "C1", "text": "hi" })
        )
        .await,
        Err(ActionError::Unavailable(_))
    ));
}

#[tokio::test]
async fn bad_params_are_refused_before_slack_is_called() {
    let server = MockServer::start().await;
    let slack = actions(&server);
    let field = |action: &str, params: Value| match slack.check(action, &params) {
        Err(ActionError::InvalidParams { field, .. }) => field,
        other => panic!("{action} {params}: {other:?}"),
    };
    assert_eq!(field("post-message", json!({ "text": "hi" })), "channel");
    assert_eq!(
        field("post-message", json!({ "channel": "C1", "text": "" })),
        "text"
    );
    assert!(slack
        .check(
            "post-message",
            &json!({ "channel": "C1", "text": "x".repeat(40_000) })
        )
        .is_ok());
    assert_eq!(
        field(
            "post-message",
            json!({ "channel": "C1", "text": "x".repeat(40_001) })
        ),
        "text"
    );
    assert!(slack
        .check("list-channels", &json!({ "limit": 200 }))
        .is_ok());
    assert_eq!(field("list-channels", json!({ "limit": 201 })), "limit");
    assert!(server.received_requests().await.unwrap().is_empty());
}
