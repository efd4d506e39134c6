//! Provider actions over HTTP, with wiremock standing in for Linear: the catalog, running an
//! action with a connected account, every refusal in the error shape, a token refreshed before
//! it expires and after Linear refuses it, and a reconnect link when the grant is gone.

use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    connect_linear, error_code, graphql, linear_settings, spawn_app_with, spawn_app_with_options,
    Browser, ServeOptions, TestApp, API_KEY,
};

struct Linear {
    app: TestApp,
    linear: MockServer,
    /// Ann's session token.
    ann: String,
    /// Her connected Linear account.
    account: String,
}

/// Ann signs in by email and connects Linear (`work`); Linear hands out `lin_access_1`, valid
/// one hour, and refresh token `lin_refresh_1`.
async fn connected() -> Linear {
    connected_with(ServeOptions::default()).await
}

async fn connected_with(options: ServeOptions) -> Linear {
    let linear = MockServer::start().await;
    let app = spawn_app_with_options(&linear_settings(&linear), options).await;
    let ann = app.sign_in("ann.lee@example.com").await;
    let account = connect_linear(&app, &Browser::new(&app.address), &linear, &ann).await;
    Linear {
        app,
        linear,
        ann,
        account,
    }
}

fn created() -> Value {
    json!({ "data": { "issueCreate": { "success": true, "issue": {
        "id": "i1", "identifier": "ENG-7", "title": "Fix login",
        "url": "https://linear.app/acme/issue/ENG-7/fix-login"
    } } } })
}

impl Linear {
    async fn act(&self, action: &str, params: Value) -> reqwest::Response {
        self.act_as(&self.ann, &self.account, action, params).await
    }

    async fn act_as(
        &self,
        token: &str,
        account: &str,
        action: &str,
        params: Value,
    ) -> reqwest::Response {
        self.app
            .post(
                &format!("/api/gpt/actions/linear/{action}"),
                &json!({ "token": token, "accountId": account, "params": params }),
            )
            .await
    }

    async fn refreshes(&self) -> usize {
        self.linear
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("grant_type=refresh_token"))
            .count()
    }
}

fn issue() -> Value {
    json!({ "teamId": "t1", "title": "Fix login" })
}

#[tokio::test]
async fn the_catalog_lists_the_configured_providers_actions_to_callers_with_the_key() {
    let linear = MockServer::start().await;
    let app = spawn_app_with(&linear_settings(&linear)).await;
    let res = app
        .request(Method::GET, "/api/gpt/actions")
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let catalog: Value = res.json().await.unwrap();
    assert_eq!(catalog["providers"].as_array().unwrap().len(), 1);
    assert_eq!(catalog["providers"][0]["provider"], "linear");
    assert_eq!(catalog["providers"][0]["name"], "Linear");
    let create = &catalog["providers"][0]["actions"][0];
    assert_eq!(create["name"], "create-issue");
    assert_eq!(create["consequential"], true);
    assert_eq!(create["params"]["required"], json!(["teamId", "title"]));

    let res = app
        .request(Method::GET, "/api/gpt/actions")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "missing_api_key");

    // The served document has each action as an operation.
    let doc: Value = app.get_json("/openapi.json").await;
    let op = &doc["paths"]["/api/gpt/actions/linear/create-issue"]["post"];
    assert_eq!(op["operationId"], "linearCreateIssue");
    assert_eq!(op["x-openai-isConsequential"], true);
}

#[tokio::test]
async fn an_action_runs_with_the_users_account_and_answers_linears_result() {
    let l = connected().await;
    graphql(&l.linear, "issueCreate", "lin_access_1", 200, created()).await;
    let res = l.act("create-issue", issue()).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["identifier"], "ENG-7");
    assert!(
        !body.to_string().contains("lin_access"),
        "no token in the answer"
    );

    // The same with the session token as Bearer instead of in the body.
    let res = l
        .app
        .request(Method::POST, "/api/gpt/actions/linear/create-issue")
        .header("x-api-key", API_KEY)
        .header("authorization", format!("Bearer {}", l.ann))
        .json(&json!({ "accountId": l.account, "params": issue() }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn refusals_name_what_is_wrong_in_the_error_shape() {
    let l = connected().await;
    let res = l.act("delete-workspace", json!({})).await;
    assert_eq!(error_code(res, 404).await, "unknown_action");
    let res = l
        .app
        .post(
            "/api/gpt/actions/jira/create-issue",
            &json!({ "token": l.ann, "accountId": l.account, "params": {} }),
        )
        .await;
    assert_eq!(error_code(res, 404).await, "unknown_provider");
    let res = l.act("create-issue", json!({ "teamId": "t1" })).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_params");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("params.title "),
        "{body}"
    );
    let res = l
        .act(
            "create-issue",
            json!({ "teamId": "t1", "title": "x".repeat(256) }),
        )
        .await;
    assert_eq!(error_code(res, 422).await, "invalid_params");
    let res = l.act_as(&l.ann, "not-an-id", "create-issue", issue()).await;
    assert_eq!(error_code(res, 404).await, "account_not_found");
    // Another user cannot use Ann's account.
    let bob = l.app.sign_in("bob@example.com").await;
    let res = l.act_as(&bob, &l.account, "create-issue", issue()).await;
    assert_eq!(error_code(res, 404).await, "account_not_found");
    // Disabled: refused until enabled again.
    let res = l
        .app
        .post(
            &format!("/api/gpt/accounts/{}/toggle", l.account),
            &json!({ "token": l.ann, "enabled": false }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = l.act("create-issue", issue()).await;
    assert_eq!(error_code(res, 409).await, "account_disabled");
    let issue_calls = l
        .linear
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("issueCreate"))
        .count();
    assert_eq!(issue_calls, 0, "Linear was never asked");
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_first() {
    let l = connected().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=lin_refresh_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "lin_access_2", "token_type": "Bearer", "expires_in": 3600,
            "refresh_token": "lin_refresh_2"
        })))
        .expect(1)
        .mount(&l.linear)
        .await;
    graphql(&l.linear, "issueCreate", "lin_access_2", 200, created()).await;
    l.app.clock.advance(Duration::minutes(55));
    let res = l.act("create-issue", issue()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(l.refreshes().await, 1);
}

#[tokio::test]
async fn an_action_cut_off_by_the_time_limit_mid_refresh_still_stores_the_rotated_token() {
    let l = connected_with(ServeOptions {
        action_time_limit: std::time::Duration::from_millis(300),
        ..ServeOptions::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=lin_refresh_1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(std::time::Duration::from_millis(700))
                .set_body_json(json!({
                    "access_token": "lin_access_2", "token_type": "Bearer", "expires_in": 3600,
                    "refresh_token": "lin_refresh_2"
                })),
        )
        .mount(&l.linear)
        .await;
    graphql(&l.linear, "issueCreate", "lin_access_2", 200, created()).await;
    l.app.clock.advance(Duration::minutes(55));
    // The time limit answers while Linear is rotating the pair.
    let res = l.act("create-issue", issue()).await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "timeout");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("check at the provider before trying again"),
        "an action cut off may have been done: {body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    // The rotated pair was stored: the next action uses it, without refreshing again.
    let res = l.act("create-issue", issue()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(l.refreshes().await, 1);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_a_dead_grant_answers_a_reconnect_link() {
    let l = connected().await;
    let refused = json!({ "errors": [{ "message": "Authentication required, not authenticated",
        "extensions": { "code": "AUTHENTICATION_ERROR" } }] });
    graphql(
        &l.linear,
        "issueCreate",
        "lin_access_1",
        400,
        refused.clone(),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "refresh token revoked"
        })))
        .mount(&l.linear)
        .await;
    let res = l.act("create-issue", issue()).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "reauth_required");
    let auth_url = body["error"]["authUrl"].as_str().unwrap();
    assert!(
        auth_url.starts_with("http://localhost:8080/auth/start?token="),
        "{auth_url}"
    );
    assert_eq!(l.refreshes().await, 1, "one refresh, never more");
    let accounts: Value = l
        .app
        .post("/api/gpt/accounts/list", &json!({ "token": l.ann }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["accounts"][0]["status"], "reauth_required");
    // The link opens the confirmation page for the same account.
    let (status, html) = Browser::new(&l.app.address).open(auth_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("work"), "{html}");
}

#[tokio::test]
async fn linears_limits_and_failures_keep_their_meaning() {
    let l = connected().await;
    graphql(
        &l.linear,
        "Teams",
        "lin_access_1",
        400,
        json!({ "errors": [{ "message": "Rate limit exceeded", "extensions": { "code": "RATELIMITED" } }] }),
    )
    .await;
    let res = l.act("list-teams", json!({})).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "60");
    assert_eq!(error_code(res, 429).await, "provider_rate_limited");

    let l = connected().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("Teams"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream connect error"))
        .with_priority(1)
        .mount(&l.linear)
        .await;
    let res = l.act("list-teams", json!({})).await;
    assert_eq!(error_code(res, 502).await, "provider_unavailable");

    let l = connected().await;
    graphql(
        &l.linear,
        "issueCreate",
        "lin_access_1",
        200,
        json!({ "data": null, "errors": [{ "message": "Argument Validation Error",
            "extensions": { "code": "INVALID_INPUT", "userPresentableMessage": "teamId must be a UUID." } }] }),
    )
    .await;
    let res = l.act("create-issue", issue()).await;
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "provider_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("teamId must be a UUID."),
        "{body}"
    );
}
