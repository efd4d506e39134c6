//! Linear's actions against wiremock, with Linear's real GraphQL answers and errors.

mod support;

use gptgate_adapters_oauth::actions::linear;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionError, ProviderActions};
use serde_json::{json, Map, Value};
use wiremock::matchers::{body_partial_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn actions(server: &MockServer) -> linear::LinearActions {
    linear::actions(&support::config(ProviderId::Linear, server, "")).unwrap()
}

async fn run(server: &MockServer, action: &str, params: Value) -> Result<Value, ActionError> {
    support::run_with(
        &actions(server),
        "lin_oauth_access",
        &Map::new(),
        action,
        params,
    )
    .await
}

async fn answer(server: &MockServer, status: u16, body: Value) {
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(header("authorization", "Bearer lin_oauth_access"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn create_issue_sends_the_input_and_returns_the_issue() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("issueCreate"))
        .and(body_partial_json(json!({ "variables": { "input": {
            "teamId": "9cfb482a-81e3-4154-b5b9-2c805e70a02d", "title": "Fix login",
            "description": "Steps: ...", "priority": 2
        } } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "issueCreate": { "success": true, "issue": {
                "id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9", "identifier": "ENG-123",
                "title": "Fix login", "url": "https://linear.app/acme/issue/ENG-123/fix-login"
            } } }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let issue = run(
        &server,
        "create-issue",
        json!({ "teamId": "9cfb482a-81e3-4154-b5b9-2c805e70a02d", "title": "Fix login",
                "description": "Steps: ...", "priority": 2 }),
    )
    .await
    .unwrap();
    assert_eq!(issue["identifier"], "ENG-123");
    assert_eq!(
        issue["url"],
        "https://linear.app/acme/issue/ENG-123/fix-login"
    );
}

#[tokio::test]
async fn lists_say_whether_there_is_more() {
    let server = MockServer::start().await;
    answer(
        &server,
        200,
        json!({ "data": { "teams": {
            "nodes": [{ "id": "t1", "key": "ENG", "name": "Engineering" }],
            "pageInfo": { "hasNextPage": false }
        } } }),
    )
    .await;
    let teams = run(&server, "list-teams", json!({})).await.unwrap();
    assert_eq!(teams["teams"][0]["key"], "ENG");
    assert_eq!(teams["more"], false);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_partial_json(json!({ "variables": { "first": 2 } })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "data": { "viewer": {
            "assignedIssues": {
                "nodes": [
                    { "id": "i1", "identifier": "ENG-2", "title": "B", "url": "u2", "priority": 1,
                      "updatedAt": "2026-11-20T10:00:00.000Z", "state": { "name": "In Progress" },
                      "team": { "key": "ENG" } },
                    { "id": "i2", "identifier": "ENG-1", "title": "A", "url": "u1", "priority": 0,
                      "updatedAt": "2026-11-19T10:00:00.000Z", "state": { "name": "Todo" },
                      "team": { "key": "ENG" } }
                ],
                "pageInfo": { "hasNextPage": true }
            }
        } } })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let issues = run(&server, "list-my-issues", json!({ "limit": 2 }))
        .await
        .unwrap();
    assert_eq!(issues["issues"].as_array().unwrap().len(), 2);
    assert_eq!(issues["more"], true);
}

#[tokio::test]
async fn add_comment_returns_the_comment() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_partial_json(json!({ "variables": { "input": {
            "issueId": "ENG-123", "body": "Looks good"
        } } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": {
            "commentCreate": { "success": true, "comment": {
                "id": "c1", "url": "https://linear.app/acme/issue/ENG-123#comment-c1" } }
        } })))
        .expect(1)
        .mount(&server)
        .await;
    let comment = run(
        &server,
        "add-comment",
        json!({ "issueId": "ENG-123", "body": "Looks good" }),
    )
    .await
    .unwrap();
    assert_eq!(comment["id"], "c1");
}

#[tokio::test]
async fn linears_errors_come_out_as_what_they_mean() {
    let server = MockServer::start().await;
    answer(
        &server,
        400,
        json!({ "errors": [{ "message": "Authentication required, not authenticated",
            "extensions": { "type": "authentication error", "code": "AUTHENTICATION_ERROR",
                            "userPresentableMessage": "You need to authenticate to access this operation." } }] }),
    )
    .await;
    assert!(matches!(
        run(&server, "list-teams", json!({})).await,
        Err(ActionError::Unauthorized)
    ));

    let server = MockServer::start().await;
    answer(
        &server,
        400,
        json!({ "errors": [{ "message": "Rate limit exceeded",
            "extensions": { "code": "RATELIMITED" } }] }),
    )
    .await;
    assert!(matches!(
        run(&server, "list-teams", json!({})).await,
        Err(ActionError::RateLimited { .. })
    ));

    let server = MockServer::start().await;
    answer(
        &server,
        200,
        json!({ "data": null, "errors": [{ "message": "Argument Validation Error",
            "extensions": { "code": "INVALID_INPUT",
                            "userPresentableMessage": "teamId must be a UUID." } }] }),
    )
    .await;
    match run(
        &server,
        "create-issue",
        json!({ "teamId": "nope", "title": "x" }),
    )
    .await
    {
        Err(ActionError::Rejected { code, message }) => {
            assert_eq!(code, "INVALID_INPUT");
            assert_eq!(message.as_deref(), Some("teamId must be a UUID."));
        }
        other => panic!("{other:?}"),
    }

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream connect error"))
        .mount(&server)
        .await;
    assert!(matches!(
        run(&server, "list-teams", json!({})).await,
        Err(ActionError::Unavailable(_))
    ));
}

#[tokio::test]
async fn bad_params_are_refused_before_linear_is_called() {
    let server = MockServer::start().await;
    let linear = actions(&server);
    let field = |action: &str, params: Value| match linear.check(action, &params) {
        Err(ActionError::InvalidParams { field, .. }) => field,
        other => panic!("{action} {params}: {other:?}"),
    };
    assert_eq!(field("create-issue", json!({ "title": "x" })), "teamId");
    assert_eq!(
        field("create-issue", json!({ "teamId": "t", "title": "" })),
        "title"
    );
    assert_eq!(
        field(
            "create-issue",
            json!({ "teamId": "t", "title": "x".repeat(256) })
        ),
        "title"
    );
    assert!(linear
        .check(
            "create-issue",
            &json!({ "teamId": "t", "title": "x".repeat(255), "priority": 4 })
        )
        .is_ok());
    assert_eq!(
        field(
            "create-issue",
            json!({ "teamId": "t", "title": "x", "priority": 5 })
        ),
        "priority"
    );
    assert!(linear
        .check("list-my-issues", &json!({ "limit": 50 }))
        .is_ok());
    assert_eq!(field("list-my-issues", json!({ "limit": 51 })), "limit");
    assert_eq!(field("list-my-issues", json!({ "limit": 0 })), "limit");
    assert_eq!(field("list-teams", json!({ "first": 3 })), "first");
    assert_eq!(
        field("add-comment", json!({ "issueId": "ENG-1", "body": "" })),
        "body"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_catalog_lists_linears_actions_in_order() {
    let server = MockServer::start().await;
    let linear = actions(&server);
    let names: Vec<_> = linear.catalog().iter().map(|a| a.name).collect();
    assert_eq!(
        names,
        [
            "create-issue",
            "list-teams",
            "list-my-issues",
            "add-comment"
        ]
    );
    for action in linear.catalog() {
        assert!(action.description.chars().count() <= 300, "{}", action.name);
        assert_eq!(action.params["type"], "object", "{}", action.name);
        for (name, property) in action.params["properties"]
            .as_object()
            .into_iter()
            .flatten()
        {
            assert!(
                property["description"].is_string(),
                "{}.{name} is described",
                action.name
            );
        }
    }
    let consequential: Vec<_> = linear
        .catalog()
        .iter()
        .filter(|a| a.consequential)
        .map(|a| a.name)
        .collect();
    assert_eq!(consequential, ["create-issue", "add-comment"]);
}
